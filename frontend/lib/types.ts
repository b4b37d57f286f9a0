// The API's shapes as the UI uses them (docs/openapi.yaml has the whole contract).

export interface Page<T> {
  data: T[];
  next_cursor: string | null;
}
export interface Store {
  id: string;
  slug: string;
  name: string;
  currency: string;
  created_at: string;
}
export interface Product {
  id: string;
  sku: string;
  name: string;
  description: string;
  price_cents: number;
  currency: string;
  available: number;
}
export type OrderStatus =
  | 'pending'
  | 'payment_authorized'
  | 'confirmed'
  | 'cancelled'
  | 'refunded'
  | 'payment_failed';
export interface TimelineEntry {
  from: OrderStatus | null;
  to: OrderStatus;
  at: string;
  reason: string;
  trace_id: string | null;
}
export interface Order {
  id: string;
  status: OrderStatus;
  customer_email: string;
  currency: string;
  total_cents: number;
  checkout_path: 'sync' | 'async' | null;
  items: { product_id: string; sku: string; name: string; quantity: number; unit_price_cents: number; line_total_cents: number }[];
  payment: { id: string; status: string; amount_cents: number; currency: string } | null;
  timeline: TimelineEntry[];
  created_at: string;
  updated_at: string;
}
export interface OutboxEvent {
  id: string;
  type: string;
  aggregate_id: string;
  status: 'pending' | 'done' | 'dead';
  attempts: number;
  in_flight: boolean;
  last_error: string | null;
  payload: Record<string, unknown> | null;
  available_at: string;
  created_at: string;
  done_at: string | null;
}
export interface Flag {
  key: string;
  enabled: boolean;
  rollout_percent: number;
  source: 'store' | 'default';
  description: string;
}
export interface FlagChange {
  at: string;
  actor: string;
  old: { enabled: boolean; rollout_percent: number };
  new: { enabled: boolean; rollout_percent: number };
}
export interface OutboxCounts {
  backlog: number;
  in_flight: number;
  scheduled: number;
  dead: number;
  oldest_due_age_seconds: number;
}
export interface OutboxStats extends OutboxCounts {
  stores: (OutboxCounts & { store: string })[];
}
export interface Fault {
  id: string;
  rule: string;
  store: string | null;
  subject: string;
  severity: 'warning' | 'critical';
  summary: string;
  status: 'open' | 'resolved';
  opened_at: string;
  last_seen_at: string;
  resolved_at: string | null;
}
export interface Worker {
  worker_id: string;
  started_at: string;
  seen_at: string;
  events_done: number;
  seen_seconds_ago: number;
  status: 'alive' | 'silent';
}
export interface AnalyticsCounts {
  orders_created: number;
  orders_checked_out: number;
  orders_confirmed: number;
  orders_failed: number;
  orders_cancelled: number;
  orders_refunded: number;
  revenue_cents: number;
}
export interface Analytics {
  store: string;
  from: string;
  to: string;
  currency: string;
  totals: AnalyticsCounts & { average_order_value_cents: number | null; conversion_rate: number | null };
  top_products: { product_id: string; sku: string; name: string; units: number; revenue_cents: number }[];
  hourly: (AnalyticsCounts & { hour: string })[];
}
