-- Product reviews → embeddings and sentiment in maintained views → semantic search and a
-- per-product score. Run with psql, naming the two models (see README.md):
--   psql … -v minilm=/path/to/all-MiniLM-L6-v2 -v sentiment=/tmp/sentiment.onnx -f reviews.sql

CREATE MODEL minilm FROM :'minilm';            -- a Hugging Face folder: format 'hf-bert'
CREATE MODEL sentiment FROM :'sentiment';      -- scikit-learn LogisticRegression over embeddings (ONNX)

CREATE TABLE reviews (id integer, product text, body text, stars integer);

-- Each review's embedding and the probability that it is positive, kept current as reviews
-- arrive, change or go away. The sentiment model reads the embedding as its 384 features.
CREATE MATERIALIZED VIEW review_scores AS
  SELECT id, product, body, v, (predict_proba('sentiment', v))[2] AS positive
  FROM (SELECT id, product, body, embed('minilm', body) AS v FROM reviews) AS r;

-- Per-product sentiment: the share of reviews the model reads as positive.
CREATE MATERIALIZED VIEW product_sentiment AS
  SELECT product, count(*) AS reviews, round(avg(positive)::numeric, 2) AS score,
         sum(CASE WHEN positive < 0.5 THEN 1 ELSE 0 END) AS negative_reviews
  FROM review_scores GROUP BY product;

-- A standing semantic search: the three reviews closest to a complaint about batteries.
CREATE MATERIALIZED VIEW battery_complaints AS
  SELECT id, product, body FROM review_scores
  ORDER BY cosine_similarity(v, embed('minilm', 'the battery does not last')) DESC NULLS LAST
  LIMIT 3;

INSERT INTO reviews VALUES
  (1, 'kettle', 'Boils water quickly and I love how it looks', 5),
  (2, 'kettle', 'The lid broke after a month and now it leaks', 1),
  (3, 'kettle', 'Quiet, quick, and the handle stays cool', 5),
  (4, 'headphones', 'Rich bass and the noise cancelling is superb', 5),
  (5, 'headphones', 'Battery drains in two hours, very annoying', 2),
  (6, 'headphones', 'Comfortable for long flights', 4),
  (7, 'phone', 'The battery barely lasts until lunch', 1),
  (8, 'phone', 'Gorgeous screen and a fantastic camera', 5),
  (9, 'phone', 'Keeps freezing and restarting on its own', 1);

SELECT product, reviews, score, negative_reviews FROM product_sentiment ORDER BY product;

SELECT id, product, body FROM battery_complaints ORDER BY id;

-- Ad-hoc semantic search over the maintained embeddings.
SELECT id, product, body,
       round(cosine_similarity(v, embed('minilm', 'it makes a lot of noise'))::numeric, 3) AS similarity
FROM review_scores ORDER BY similarity DESC LIMIT 3;

-- New reviews move the scores and the standing search at once.
INSERT INTO reviews VALUES
  (10, 'kettle', 'Stopped heating after a week, total waste of money', 1),
  (11, 'headphones', 'The charge lasts barely an afternoon', 2);
DELETE FROM reviews WHERE id = 2;

SELECT product, reviews, score, negative_reviews FROM product_sentiment ORDER BY product;

SELECT id, product, body FROM battery_complaints ORDER BY id;
