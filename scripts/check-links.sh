#!/usr/bin/env bash
# scripts/check-links.sh — every relative link in the tracked Markdown files points at a file or
# directory that exists (anchors are not checked). Prints each broken one; fails if any.
set -euo pipefail
cd "$(dirname "$0")/.."
bad=0
while IFS= read -r md; do
	dir=$(dirname "$md")
	# [text](target) with a relative target: no scheme, no pure anchor.
	while IFS= read -r target; do
		path=${target%%#*}
		[ -n "$path" ] || continue
		if [ ! -e "$dir/$path" ]; then
			echo "broken link in $md: $target"
			bad=$((bad + 1))
		fi
	done < <(grep -oE '\]\([^)[:space:]]+\)' "$md" | sed -E 's/^\]\((.*)\)$/\1/' |
		grep -vE '^(https?:|mailto:|#)' || true)
done < <(git ls-files '*.md' ':!:frontend/node_modules/**'; git ls-files --others --exclude-standard '*.md')
if [ "$bad" -gt 0 ]; then
	echo "check-links: $bad broken links"
	exit 1
fi
echo "check-links: every relative link resolves"
