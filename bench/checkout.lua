-- wrk script: checkout pre-created pending orders, one unique Idempotency-Key each.
-- Usage: ORDERS=file STORE=slug wrk -t4 -c16 -d10s -s bench/checkout.lua http://127.0.0.1:8080
local ids = {}
local store = os.getenv("STORE")
for line in io.lines(os.getenv("ORDERS")) do ids[#ids + 1] = line end
local counter = 0
local thread_index = 0
local nthreads = tonumber(os.getenv("THREADS") or "4")

function setup(thread)
	thread:set("tid", thread_index)
	thread_index = thread_index + 1
end

function init(args)
	counter = tid
end

function request()
	local id = ids[(counter % #ids) + 1]
	counter = counter + nthreads
	return wrk.format("POST", "/v1/stores/" .. store .. "/orders/" .. id .. "/checkout",
		{["Content-Type"] = "application/json", ["Idempotency-Key"] = "bench-" .. id},
		'{"payment_token":"tok_ok"}')
end

local statuses = {}
function response(status, headers, body)
	statuses[status] = (statuses[status] or 0) + 1
end
