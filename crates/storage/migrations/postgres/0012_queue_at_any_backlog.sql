-- Claims walk the due pending jobs in run_at order and stop after a batch: an index of only
-- the pending jobs, so a claim costs the same whatever the backlog (and however many jobs are
-- done or dead). It replaces the (status, run_at) index.
CREATE INDEX jobs_pending_due ON jobs (run_at) WHERE status = 'pending';
DROP INDEX jobs_due;
-- Unpaid orders are released by a periodic sweep over their hold deadline, not by one job per
-- order queued a day ahead (which made every claim wade through them).
ALTER TABLE orders ADD COLUMN hold_until BIGINT;
CREATE INDEX orders_hold_until ON orders (hold_until) WHERE status = 'pending_payment';
