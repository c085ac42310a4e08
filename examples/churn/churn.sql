-- Churn: raw events → a features view → a model trained in the database → a predictions
-- view, retrained as the data changes. Run with psql -f (see README.md).

CREATE TABLE customers (id integer NOT NULL, plan text, signup date);
CREATE TABLE events (customer_id integer, kind text, amount double precision, at timestamptz);
CREATE TABLE churned (customer_id integer, churned boolean);

-- Features per customer, maintained: activity counts, spend, the plan one-hot encoded, and the
-- spend scaled over all customers (a window over the whole input, updated as it changes).
CREATE MATERIALIZED VIEW customer_features AS
  SELECT c.id,
         count(*) FILTER (WHERE e.kind = 'login')::float8    AS logins,
         count(*) FILTER (WHERE e.kind = 'support')::float8  AS tickets,
         coalesce(sum(e.amount) FILTER (WHERE e.kind = 'purchase'), 0) AS spend,
         one_hot(c.plan, ARRAY['free', 'pro', 'team'])       AS plan
  FROM customers c LEFT JOIN events e ON e.customer_id = c.id
  GROUP BY c.id, c.plan;

CREATE MATERIALIZED VIEW training_set AS
  SELECT f.logins, f.tickets, f.spend, f.plan, l.churned
  FROM customer_features f JOIN churned l ON l.customer_id = f.id;

-- 300 customers with a month of events; those with few logins and many tickets churned.
INSERT INTO customers
  SELECT g, (ARRAY['free', 'pro', 'team'])[1 + g % 3], DATE '2026-01-01' + g % 90 FROM generate_series(1, 300) g;
INSERT INTO events
  SELECT 1 + g % 300, 'login', NULL::float8, TIMESTAMPTZ '2026-06-01 00:00:00+00' + g * INTERVAL '1 minute'
  FROM generate_series(1, 6000) g WHERE (g % 300) % 7 <> 0 OR g % 5 = 0;
INSERT INTO events
  SELECT 1 + (g * 7) % 300, 'support', NULL::float8, TIMESTAMPTZ '2026-06-02 00:00:00+00' + g * INTERVAL '1 hour'
  FROM generate_series(1, 600) g;
INSERT INTO events
  SELECT 1 + g % 300, 'purchase', (g % 50) + 0.99, TIMESTAMPTZ '2026-06-03 00:00:00+00' + g * INTERVAL '1 hour'
  FROM generate_series(1, 900) g;
INSERT INTO churned
  SELECT f.id, f.logins < 15 AND f.tickets >= 2 FROM customer_features f;

SELECT churned, count(*) FROM training_set GROUP BY churned ORDER BY churned;

-- Train in place; retrain whenever a fifth of the training rows have changed.
CREATE MODEL churn_model TRAIN LOGISTIC_REGRESSION
  ON (SELECT logins, tickets, spend, plan, churned FROM training_set) TARGET churned
  WITH (validation_fraction = 0.25, seed = 1, RETRAIN AFTER CHANGE 20%);

SELECT version, algorithm, train_rows, validation_rows, (metrics->>'accuracy')::float8 >= 0.9 AS accurate
FROM riffle_model_versions WHERE name = 'churn_model';

-- Predictions live next to the data: every customer's risk, current as events arrive.
CREATE MATERIALIZED VIEW churn_risk AS
  SELECT id, (predict_proba('churn_model', ARRAY[logins, tickets, spend] || plan))[2] AS risk
  FROM customer_features;

SELECT count(*) AS at_risk FROM churn_risk WHERE risk > 0.5;

-- Customer 8 (at risk) suddenly logs in a lot: its risk falls at once, no batch job involved.
SELECT risk > 0.5 AS at_risk_before FROM churn_risk WHERE id = 8;
INSERT INTO events SELECT 8, 'login', NULL::float8, TIMESTAMPTZ '2026-07-01 00:00:00+00' + g * INTERVAL '1 minute' FROM generate_series(1, 40) g;
SELECT risk > 0.5 AS at_risk_after FROM churn_risk WHERE id = 8;

-- A new cohort with labels: more than 20% new training rows, so the model retrains on the next
-- server tick (see riffle_model_versions a second later).
INSERT INTO customers SELECT g, 'pro', DATE '2026-05-01' FROM generate_series(301, 380) g;
INSERT INTO events SELECT 301 + g % 80, 'login', NULL::float8, TIMESTAMPTZ '2026-06-05 00:00:00+00' + g * INTERVAL '1 minute' FROM generate_series(1, 1600) g;
INSERT INTO churned SELECT f.id, f.logins < 15 AND f.tickets >= 2 FROM customer_features f WHERE f.id > 300;

SELECT * FROM riffle_lineage WHERE object = 'churn_risk' ORDER BY depth, reads;
