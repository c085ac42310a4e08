//! Nexmark on Riffle: the standard generator (the `nexmark` crate) feeding the `person`,
//! `auction` and `bid` tables, each query a materialized view, one query per fresh server.
//!
//! ```sh
//! cargo build --release --bin riffle && cargo build --release -p riffle-benches
//! ./target/release/nexmark [--events 200000] [--batch 10000] [--feed copy|insert|kafka] [--workers 1]
//!                          [--queries q0,q1,…] [--extra name='SELECT …'] [--verify] [--csv docs/bench/nexmark.csv]
//!                          [--view-options 'WITH (EXPECTED GROUP SIZE 1000000)']
//! ```
//!
//! For each query: a fresh server, the tables, the view; then the events in batches of
//! `--batch` (one `COPY … FROM STDIN`, or one multi-row INSERT, per table and batch, each
//! acknowledged after its synced RocksDB write) as fast as the server takes them; then one
//! read of the view, which waits until the view has caught up. Throughput is events over the
//! time from the first batch to that read; "catch-up" is the time from the last
//! acknowledgement until the view had caught up (the read's own cost, measured again right
//! after, is subtracted). The baseline in the same run, `ingest`, is the same feed with no view.
//! CPU per event is the server's over that time: all its threads ("server"), and its timely
//! worker threads alone ("engine": the dataflows, without the wire, COPY parsing, Kafka
//! decoding or the log; what engine-only benchmarks such as Feldera's measure).
//! With `--feed kafka` (needs `eval "$(dev/kafka.sh)"`) the events are produced once to three
//! topics (`person`, `auction`, `bid`, JSON, 4 partitions each) before the runs; each run then
//! creates the three tables as Kafka sources (`bid.p_time` is the record's Kafka timestamp) and
//! the view, and is timed from there until every record is ingested and the view has caught up.
//! `--verify` also runs each query from scratch as an ad-hoc SELECT and checks that the
//! maintained view holds the same rows.

use nexmark::config::NexmarkConfig;
use nexmark::event::Event;
use riffle_benches::{cpu_seconds, peak_rss, threads_cpu_seconds};
use riffle_tests::TestServer;
use std::fmt::Write as _;
use std::time::{Duration, Instant};
use tokio_postgres::Client;

const TABLES: &str = "
CREATE TABLE person (id bigint, name text, email_address text, credit_card text, city text, state text, date_time timestamp, extra text);
CREATE TABLE auction (id bigint, item_name text, description text, initial_bid bigint, reserve bigint, date_time timestamp, expires timestamp, seller bigint, category bigint, extra text);
CREATE TABLE bid (auction bigint, bidder bigint, price bigint, channel text, url text, date_time timestamp, extra text, p_time timestamptz DEFAULT now());
CREATE TABLE side_input (key bigint, value text);
";

/// q15–q17's bid counts by price rank.
macro_rules! rank_bids {
    () => {
        "count(*) FILTER (WHERE price < 10000) AS rank1_bids, \
         count(*) FILTER (WHERE price >= 10000 AND price < 1000000) AS rank2_bids, \
         count(*) FILTER (WHERE price >= 1000000) AS rank3_bids"
    };
}

/// q15 and q16's distinct bidders and auctions, overall and by price rank.
macro_rules! rank_bidders_auctions {
    () => {
        "count(DISTINCT bidder) AS total_bidders, \
         count(DISTINCT bidder) FILTER (WHERE price < 10000) AS rank1_bidders, \
         count(DISTINCT bidder) FILTER (WHERE price >= 10000 AND price < 1000000) AS rank2_bidders, \
         count(DISTINCT bidder) FILTER (WHERE price >= 1000000) AS rank3_bidders, \
         count(DISTINCT auction) AS total_auctions, \
         count(DISTINCT auction) FILTER (WHERE price < 10000) AS rank1_auctions, \
         count(DISTINCT auction) FILTER (WHERE price >= 10000 AND price < 1000000) AS rank2_auctions, \
         count(DISTINCT auction) FILTER (WHERE price >= 1000000) AS rank3_auctions"
    };
}

/// The queries, in Riffle's SQL. q10 (writing to a file system) and q11 (session windows)
/// are not views over these tables; the issue leaves them out too.
pub const QUERIES: &[(&str, &str)] = &[
    // Passthrough.
    ("q0", "SELECT auction, bidder, price, date_time, extra FROM bid"),
    // Currency conversion.
    ("q1", "SELECT auction, bidder, 0.908 * price AS price, date_time, extra FROM bid"),
    // Selection.
    ("q2", "SELECT auction, price FROM bid WHERE auction % 123 = 0"),
    // Local item suggestion: a join with a filter on each side.
    (
        "q3",
        "SELECT p.name, p.city, p.state, a.id FROM auction a JOIN person p ON a.seller = p.id \
         WHERE a.category = 10 AND (p.state = 'or' OR p.state = 'id' OR p.state = 'ca')",
    ),
    // Average closing price per category.
    (
        "q4",
        "SELECT q.category, avg(q.final) AS avg_final FROM ( \
           SELECT max(b.price) AS final, a.category FROM auction a JOIN bid b ON a.id = b.auction \
           WHERE b.date_time BETWEEN a.date_time AND a.expires GROUP BY a.id, a.category) q \
         GROUP BY q.category",
    ),
    // Hot items: the auctions with the most bids per sliding (HOP) window.
    (
        "q5",
        "SELECT ab.auction, ab.num FROM ( \
           SELECT auction, count(*) AS num, window_start AS starttime \
           FROM HOP(bid, date_time, INTERVAL '2 seconds', INTERVAL '10 seconds') GROUP BY auction, window_start) ab \
         JOIN ( \
           SELECT max(cb.num) AS maxn, cb.starttime FROM ( \
             SELECT count(*) AS num, window_start AS starttime \
             FROM HOP(bid, date_time, INTERVAL '2 seconds', INTERVAL '10 seconds') GROUP BY auction, window_start) cb \
           GROUP BY cb.starttime) mb \
         ON ab.starttime = mb.starttime AND ab.num >= mb.maxn",
    ),
    // Average selling price of each seller's last 10 closed auctions.
    (
        "q6",
        "SELECT seller, avg(final) OVER (PARTITION BY seller ORDER BY expires, id ROWS BETWEEN 9 PRECEDING AND CURRENT ROW) AS avg_final, id \
         FROM (SELECT a.id, a.seller, a.expires, max(b.price) AS final FROM auction a JOIN bid b ON a.id = b.auction \
               WHERE b.date_time BETWEEN a.date_time AND a.expires GROUP BY a.id, a.seller, a.expires) q",
    ),
    // Highest bid per tumbling window.
    (
        "q7",
        "SELECT b.auction, b.price, b.bidder, b.date_time, b.extra FROM bid b JOIN ( \
           SELECT max(price) AS maxprice, window_end AS date_time \
           FROM TUMBLE(bid, date_time, INTERVAL '10 seconds') GROUP BY window_start, window_end) b1 \
         ON b.price = b1.maxprice \
         WHERE b.date_time BETWEEN b1.date_time - INTERVAL '10 seconds' AND b1.date_time",
    ),
    // New users: people who opened an auction in the same tumbling window they registered in.
    (
        "q8",
        "SELECT p.id, p.name, p.starttime FROM ( \
           SELECT id, name, window_start AS starttime, window_end AS endtime \
           FROM TUMBLE(person, date_time, INTERVAL '10 seconds') GROUP BY id, name, window_start, window_end) p \
         JOIN ( \
           SELECT seller, window_start AS starttime, window_end AS endtime \
           FROM TUMBLE(auction, date_time, INTERVAL '10 seconds') GROUP BY seller, window_start, window_end) a \
         ON p.id = a.seller AND p.starttime = a.starttime AND p.endtime = a.endtime",
    ),
    // Winning bids: the highest bid of each auction while it was open.
    (
        "q9",
        "SELECT id, item_name, description, initial_bid, reserve, date_time, expires, seller, category, extra, \
                auction, bidder, price, bid_date_time, bid_extra FROM ( \
           SELECT a.*, b.auction, b.bidder, b.price, b.date_time AS bid_date_time, b.extra AS bid_extra, \
                  row_number() OVER (PARTITION BY a.id ORDER BY b.price DESC, b.date_time ASC) AS rownum \
           FROM auction a JOIN bid b ON a.id = b.auction WHERE b.date_time BETWEEN a.date_time AND a.expires) t \
         WHERE rownum <= 1",
    ),
    // Bids per bidder per 10-second processing-time window (p_time is set at insert).
    (
        "q12",
        "SELECT bidder, count(*) AS bid_count, date_bin(INTERVAL '10 seconds', p_time, TIMESTAMPTZ '1970-01-01 00:00:00+00') AS window_start \
         FROM bid GROUP BY bidder, date_bin(INTERVAL '10 seconds', p_time, TIMESTAMPTZ '1970-01-01 00:00:00+00')",
    ),
    // Bounded side input join.
    (
        "q13",
        "SELECT b.auction, b.bidder, b.price, b.date_time, s.value FROM bid b JOIN side_input s ON b.auction % 10000 = s.key",
    ),
    // Calculation: a filter, a CASE on the hour and a character count.
    (
        "q14",
        "SELECT auction, bidder, 0.908 * price AS price, \
           CASE WHEN extract(hour FROM date_time) >= 8 AND extract(hour FROM date_time) <= 18 THEN 'dayTime' \
                WHEN extract(hour FROM date_time) <= 6 OR extract(hour FROM date_time) >= 20 THEN 'nightTime' \
                ELSE 'otherTime' END AS bid_time_type, \
           date_time, extra, length(extra) - length(replace(extra, 'c', '')) AS c_counts \
         FROM bid WHERE 0.908 * price > 1000000 AND 0.908 * price < 50000000",
    ),
    // Bidding statistics per day (counts and distinct counts with FILTER).
    (
        "q15",
        concat!(
            "SELECT to_char(date_time, 'YYYY-MM-DD') AS day, count(*) AS total_bids, ",
            rank_bids!(),
            ", ",
            rank_bidders_auctions!(),
            " FROM bid GROUP BY to_char(date_time, 'YYYY-MM-DD')"
        ),
    ),
    // Channel statistics per day.
    (
        "q16",
        concat!(
            "SELECT channel, to_char(date_time, 'YYYY-MM-DD') AS day, max(to_char(date_time, 'HH24:MI')) AS minute, count(*) AS total_bids, ",
            rank_bids!(),
            ", ",
            rank_bidders_auctions!(),
            " FROM bid GROUP BY channel, to_char(date_time, 'YYYY-MM-DD')"
        ),
    ),
    // Auction statistics per day.
    (
        "q17",
        concat!(
            "SELECT auction, to_char(date_time, 'YYYY-MM-DD') AS day, count(*) AS total_bids, ",
            rank_bids!(),
            ", min(price) AS min_price, max(price) AS max_price, avg(price) AS avg_price, sum(price) AS sum_price \
             FROM bid GROUP BY auction, to_char(date_time, 'YYYY-MM-DD')"
        ),
    ),
    // Last bid of each bidder on each auction.
    (
        "q18",
        "SELECT auction, bidder, price, channel, url, date_time, extra FROM ( \
           SELECT *, row_number() OVER (PARTITION BY bidder, auction ORDER BY date_time DESC, price DESC) AS rank_number FROM bid) t \
         WHERE rank_number <= 1",
    ),
    // Top 10 bids per auction.
    (
        "q19",
        "SELECT auction, bidder, price, channel, url, date_time, extra, rank_number FROM ( \
           SELECT *, row_number() OVER (PARTITION BY auction ORDER BY price DESC, date_time, bidder) AS rank_number FROM bid) t \
         WHERE rank_number <= 10",
    ),
    // Bids joined with their auction, for one category.
    (
        "q20",
        "SELECT b.auction, b.bidder, b.price, b.channel, b.url, b.date_time AS bid_date_time, b.extra AS bid_extra, \
                a.item_name, a.description, a.initial_bid, a.reserve, a.date_time AS auction_date_time, a.expires, a.seller, a.category, a.extra AS auction_extra \
         FROM bid b JOIN auction a ON b.auction = a.id WHERE a.category = 10",
    ),
    // A channel id from the channel name or the URL.
    (
        "q21",
        "SELECT auction, bidder, price, channel, \
           CASE WHEN lower(channel) = 'apple' THEN '0' WHEN lower(channel) = 'google' THEN '1' \
                WHEN lower(channel) = 'facebook' THEN '2' WHEN lower(channel) = 'baidu' THEN '3' \
                ELSE (regexp_match(url, '(&|^)channel_id=([^&]*)'))[2] END AS channel_id \
         FROM bid WHERE (regexp_match(url, '(&|^)channel_id=([^&]*)'))[2] IS NOT NULL OR lower(channel) IN ('apple', 'google', 'facebook', 'baidu')",
    ),
    // The URL's directories.
    (
        "q22",
        "SELECT auction, bidder, price, channel, split_part(url, '/', 4) AS dir1, split_part(url, '/', 5) AS dir2, split_part(url, '/', 6) AS dir3 FROM bid",
    ),
];

/// Fixed event time origin (2026-01-01T00:00:00Z), so runs are reproducible.
const BASE_TIME_MS: u64 = 1_767_225_600_000;

/// Nexmark on Riffle: each query a materialized view on a fresh server, fed by the standard
/// generator (see the module docs).
#[derive(clap::Parser)]
#[command(name = "nexmark")]
struct Args {
    /// Events to generate (2% people, 6% auctions, 92% bids).
    #[arg(long, default_value_t = 200_000)]
    events: usize,
    /// Events per batch (one COPY or INSERT per table and batch).
    #[arg(long, default_value_t = 10_000)]
    batch: usize,
    /// How events reach the server.
    #[arg(long, default_value = "copy", value_parser = ["copy", "insert", "kafka"])]
    feed: String,
    /// Timely worker threads of the server.
    #[arg(long, default_value_t = 1)]
    workers: usize,
    /// Queries to run, comma-separated (default: all; empty: only the `ingest` baseline).
    #[arg(long, value_delimiter = ',', default_values_t = QUERIES.iter().map(|(n, _)| n.to_string()))]
    queries: Vec<String>,
    /// Also run each query from scratch and compare it with the maintained view.
    #[arg(long)]
    verify: bool,
    /// Write the table as CSV to this file.
    #[arg(long)]
    csv: Option<String>,
    /// Ad-hoc queries to run after the listed ones (`name=SQL`, repeatable), e.g. a variant of
    /// a query to compare plans.
    #[arg(long, value_parser = parse_extra)]
    extra: Vec<(String, String)>,
    /// Options for every view, between its name and AS, e.g. `WITH (EXPECTED GROUP SIZE
    /// 1000000)` to reduce the grouped `min`/`max`/top-k of q5, q7, q16 in buckets.
    #[arg(long, default_value = "")]
    view_options: String,
}

fn parse_extra(v: &str) -> Result<(String, String), String> {
    let (name, sql) = v.split_once('=').ok_or("expected name=SQL")?;
    Ok((name.to_string(), sql.to_string()))
}

fn args() -> Args {
    let mut a = <Args as clap::Parser>::parse();
    a.queries.retain(|q| !q.is_empty());
    a
}

/// One batch of events as COPY text (tab-separated, PostgreSQL escapes) per table.
#[derive(Default)]
struct Batch {
    person: String,
    auction: String,
    bid: String,
}

fn escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('\t', "\\t")
        .replace('\n', "\\n")
        .replace('\r', "\\r")
}

fn ts(ms: u64) -> String {
    let t = chrono::DateTime::from_timestamp_millis(ms as i64).expect("event time");
    t.format("%Y-%m-%d %H:%M:%S%.3f").to_string()
}

fn events(n: usize) -> Vec<Event> {
    let config = NexmarkConfig {
        base_time: BASE_TIME_MS,
        ..NexmarkConfig::default()
    };
    nexmark::EventGenerator::new(config).take(n).collect()
}

/// The events as JSON records per topic (times as epoch milliseconds).
fn json_records(events: &[Event]) -> [Vec<String>; 3] {
    let mut out: [Vec<String>; 3] = Default::default();
    for event in events {
        let (i, v) = match event {
            Event::Person(p) => (
                0,
                serde_json::json!({"id": p.id, "name": p.name, "email_address": p.email_address, "credit_card": p.credit_card,
                                   "city": p.city, "state": p.state, "date_time": p.date_time, "extra": p.extra}),
            ),
            Event::Auction(a) => (
                1,
                serde_json::json!({"id": a.id, "item_name": a.item_name, "description": a.description, "initial_bid": a.initial_bid,
                                   "reserve": a.reserve, "date_time": a.date_time, "expires": a.expires, "seller": a.seller,
                                   "category": a.category, "extra": a.extra}),
            ),
            Event::Bid(b) => (
                2,
                serde_json::json!({"auction": b.auction, "bidder": b.bidder, "price": b.price, "channel": b.channel,
                                   "url": b.url, "date_time": b.date_time, "extra": b.extra}),
            ),
        };
        out[i].push(v.to_string());
    }
    out
}

fn batches(events: &[Event], batch: usize) -> Vec<Batch> {
    let mut out = Vec::new();
    let mut current = Batch::default();
    for (i, event) in events.iter().enumerate() {
        match event {
            Event::Person(p) => {
                let _ = writeln!(
                    current.person,
                    "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
                    p.id,
                    escape(&p.name),
                    escape(&p.email_address),
                    escape(&p.credit_card),
                    escape(&p.city),
                    escape(&p.state),
                    ts(p.date_time),
                    escape(&p.extra)
                );
            }
            Event::Auction(a) => {
                let _ = writeln!(
                    current.auction,
                    "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
                    a.id,
                    escape(&a.item_name),
                    escape(&a.description),
                    a.initial_bid,
                    a.reserve,
                    ts(a.date_time),
                    ts(a.expires),
                    a.seller,
                    a.category,
                    escape(&a.extra)
                );
            }
            Event::Bid(b) => {
                let _ = writeln!(
                    current.bid,
                    "{}\t{}\t{}\t{}\t{}\t{}\t{}",
                    b.auction,
                    b.bidder,
                    b.price,
                    escape(&b.channel),
                    escape(&b.url),
                    ts(b.date_time),
                    escape(&b.extra)
                );
            }
        }
        if (i + 1) % batch == 0 {
            out.push(std::mem::take(&mut current));
        }
    }
    if !current.bid.is_empty() || !current.auction.is_empty() || !current.person.is_empty() {
        out.push(current);
    }
    out
}

const COLUMNS: [(&str, &str); 3] = [
    ("person", "id, name, email_address, credit_card, city, state, date_time, extra"),
    (
        "auction",
        "id, item_name, description, initial_bid, reserve, date_time, expires, seller, category, extra",
    ),
    ("bid", "auction, bidder, price, channel, url, date_time, extra"),
];

/// COPY text lines as an INSERT … VALUES statement (every field a quoted literal, cast by the
/// column's type).
fn insert_sql(table: &str, columns: &str, text: &str) -> String {
    let rows: Vec<String> = text
        .lines()
        .map(|line| {
            let fields: Vec<String> = line
                .split('\t')
                .map(|f| format!("'{}'", f.replace("\\t", "\t").replace("\\\\", "\\").replace('\'', "''")))
                .collect();
            format!("({})", fields.join(", "))
        })
        .collect();
    format!("INSERT INTO {table} ({columns}) VALUES {}", rows.join(", "))
}

async fn feed(client: &Client, batch: &Batch, how: &str) {
    for ((table, columns), text) in COLUMNS.iter().zip([&batch.person, &batch.auction, &batch.bid]) {
        if text.is_empty() {
            continue;
        }
        if how == "copy" {
            riffle_benches::copy_in(client, &format!("COPY {table} ({columns}) FROM STDIN"), text.clone()).await;
        } else {
            client.batch_execute(&insert_sql(table, columns, text)).await.expect("INSERT");
        }
    }
}

struct Outcome {
    name: String,
    seconds: f64,
    catch_up: Duration,
    rows: i64,
    records: i64,
    bytes: i64,
    peak_rss: u64,
    /// Server CPU time (all threads) from the first event to the caught-up read, seconds.
    cpu: f64,
    /// The same for the dataflow worker threads alone (the engine, without the wire, COPY
    /// parsing, Kafka decoding or the log).
    engine_cpu: f64,
    verified: Option<bool>,
}

/// Where the events come from: batches to load, or Kafka topics (with each topic's record count).
enum Input<'a> {
    Tables(&'a [Batch]),
    Kafka { broker: &'a str, topics: &'a [(String, usize); 3] },
}

/// The three tables as Kafka sources over `topics` (person, auction, bid).
fn sources_sql(broker: &str, topics: &[(String, usize); 3]) -> String {
    let tables: Vec<&str> = TABLES.lines().filter(|l| l.starts_with("CREATE TABLE")).collect();
    let mut sql = format!("CREATE CONNECTION k TO KAFKA (BROKER '{broker}');\n");
    for ((table, _), (topic, _)) in COLUMNS.iter().zip(topics) {
        let create = tables
            .iter()
            .find(|t| t.starts_with(&format!("CREATE TABLE {table} ")))
            .expect("table");
        let columns = create.trim_end_matches(';').replace(", p_time timestamptz DEFAULT now()", "");
        let columns = columns.replacen("CREATE TABLE", "CREATE SOURCE", 1);
        let include = if *table == "bid" { " INCLUDE TIMESTAMP AS p_time" } else { "" };
        let _ = writeln!(sql, "{columns} FROM KAFKA CONNECTION k (TOPIC '{topic}') FORMAT JSON{include};");
    }
    sql
}

async fn run(name: &str, query: Option<&str>, input: &Input<'_>, args: &Args) -> Outcome {
    let workers = args.workers.to_string();
    let server = TestServer::start_with(&["--workers", &workers]);
    let client = server.connect().await;
    match input {
        Input::Tables(_) => client.batch_execute(TABLES).await.unwrap(),
        Input::Kafka { .. } => {
            let side = TABLES
                .lines()
                .find(|l| l.starts_with("CREATE TABLE side_input"))
                .expect("side_input");
            client.batch_execute(side).await.unwrap()
        }
    }
    let side: Vec<String> = (0..10_000).map(|k| format!("({k}, 'side{k}')")).collect();
    client
        .batch_execute(&format!("INSERT INTO side_input VALUES {}", side.join(",")))
        .await
        .unwrap();
    let view = query.map(|q| format!("CREATE MATERIALIZED VIEW {name} {} AS {q}", args.view_options));
    let read = format!("SELECT count(*) FROM {}", if query.is_some() { name } else { "bid" });
    let start;
    let cpu_at = || server.pid().map_or(0.0, cpu_seconds);
    let engine_cpu_at = || server.pid().map_or(0.0, |pid| threads_cpu_seconds(pid, "timely:work"));
    let cpu_before = cpu_at();
    let engine_cpu_before = engine_cpu_at();
    match input {
        Input::Tables(data) => {
            if let Some(sql) = &view {
                client.batch_execute(sql).await.unwrap_or_else(|e| panic!("{name}: {e:?}"));
            }
            start = Instant::now();
            for batch in *data {
                feed(&client, batch, &args.feed).await;
            }
        }
        Input::Kafka { broker, topics } => {
            start = Instant::now();
            client.batch_execute(&sources_sql(broker, topics)).await.unwrap();
            if let Some(sql) = &view {
                client.batch_execute(sql).await.unwrap_or_else(|e| panic!("{name}: {e:?}"));
            }
            // Every record is in once each source's offsets add up to its topic's records.
            let want: i64 = topics.iter().map(|(_, n)| *n as i64).sum();
            loop {
                let have: i64 = client
                    .query_one("SELECT coalesce(sum(\"offset\"), 0)::bigint FROM riffle_source_progress", &[])
                    .await
                    .unwrap()
                    .get(0);
                if have >= want {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
    }
    let fed = Instant::now();
    let rows: i64 = client.query_one(&read, &[]).await.unwrap().get(0);
    let caught_up = Instant::now();
    let cpu = cpu_at() - cpu_before;
    let engine_cpu = engine_cpu_at() - engine_cpu_before;
    // The read itself, now that nothing is pending, to subtract from the catch-up time.
    let again = Instant::now();
    client.query_one(&read, &[]).await.unwrap();
    let read_cost = again.elapsed();
    let seconds = (caught_up - start).saturating_sub(read_cost).as_secs_f64();
    let catch_up = (caught_up - fed).saturating_sub(read_cost);
    // Sizes are re-measured in the background; wait for a measurement taken after the load.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let object = if query.is_some() { name } else { "bid" };
    let size = client
        .query_one(
            "SELECT coalesce(sum(records), 0)::bigint, coalesce(sum(bytes), 0)::bigint FROM riffle_arrangement_sizes WHERE object = $1",
            &[&object],
        )
        .await
        .unwrap();
    let verified = match (args.verify, query) {
        (true, Some(q)) => {
            let maintained = riffle_tests::sorted_rows(&client, &format!("SELECT * FROM {name}")).await.unwrap();
            let scratch = riffle_tests::sorted_rows(&client, q).await.unwrap();
            if maintained != scratch {
                eprintln!(
                    "{name}: the view ({} rows) differs from the query run from scratch ({} rows)",
                    maintained.len(),
                    scratch.len()
                );
            }
            Some(maintained == scratch)
        }
        _ => None,
    };
    Outcome {
        name: name.to_string(),
        seconds,
        catch_up,
        rows,
        records: size.get(0),
        bytes: size.get(1),
        peak_rss: server.pid().map_or(0, peak_rss),
        cpu,
        engine_cpu,
        verified,
    }
}

#[tokio::main]
async fn main() {
    let args = args();
    let generated = Instant::now();
    let events = events(args.events);
    let data = batches(&events, args.batch);
    eprintln!(
        "generated {} events in {} batches ({:.1} s); feeding by {}",
        args.events,
        data.len(),
        generated.elapsed().as_secs_f64(),
        args.feed
    );
    let broker = std::env::var("RIFFLE_TEST_KAFKA").unwrap_or_default();
    let mut topics: [(String, usize); 3] = Default::default();
    if args.feed == "kafka" {
        assert!(
            !broker.is_empty(),
            "--feed kafka needs RIFFLE_TEST_KAFKA (eval \"$(dev/kafka.sh)\")"
        );
        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis();
        for (i, records) in json_records(&events).into_iter().enumerate() {
            let topic = format!("nexmark_{stamp}_{}", COLUMNS[i].0);
            let n = records.len();
            riffle_benches::produce(&broker, &topic, 4, records.into_iter().map(|r| (None, r))).await;
            topics[i] = (topic, n);
        }
        eprintln!("produced the events to {:?}", topics);
    }
    let input = if args.feed == "kafka" {
        Input::Kafka {
            broker: &broker,
            topics: &topics,
        }
    } else {
        Input::Tables(&data)
    };
    let mut outcomes = vec![run("ingest", None, &input, &args).await];
    eprintln!("ingest: {:.0} events/s", args.events as f64 / outcomes[0].seconds);
    let mut queries: Vec<(String, String)> = Vec::new();
    for name in &args.queries {
        let Some((_, sql)) = QUERIES.iter().find(|(n, _)| n == name) else {
            panic!("unknown query {name}");
        };
        queries.push((name.clone(), sql.to_string()));
    }
    queries.extend(args.extra.iter().cloned());
    for (name, sql) in &queries {
        let o = run(name, Some(sql), &input, &args).await;
        eprintln!("{name}: {:.0} events/s, {} rows", args.events as f64 / o.seconds, o.rows);
        outcomes.push(o);
    }
    let base = args.events as f64 / outcomes[0].seconds;
    println!(
        "events: {}, batch: {}, feed: {}, workers: {}",
        args.events, args.batch, args.feed, args.workers
    );
    println!();
    println!("| query | events/s | vs. ingest alone | server CPU µs/event | engine CPU µs/event | catch-up after last ack | view rows | arrangement records | bytes/record | peak RSS | matches from-scratch |");
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    let mut csv = String::from(
        "query,events_per_s,ratio_to_ingest,cpu_us_per_event,engine_cpu_us_per_event,catch_up_ms,rows,records,bytes,peak_rss\n",
    );
    for o in &outcomes {
        let rate = args.events as f64 / o.seconds;
        let per_record = if o.records > 0 {
            format!("{}", o.bytes / o.records)
        } else {
            "-".into()
        };
        println!(
            "| {} | {:.0} | {:.2} | {:.1} | {:.1} | {:.0} ms | {} | {} | {} | {} MB | {} |",
            o.name,
            rate,
            rate / base,
            o.cpu * 1e6 / args.events as f64,
            o.engine_cpu * 1e6 / args.events as f64,
            o.catch_up.as_secs_f64() * 1e3,
            o.rows,
            o.records,
            per_record,
            o.peak_rss / 1_000_000,
            o.verified.map_or("-", |v| if v { "yes" } else { "NO" }),
        );
        let _ = writeln!(
            csv,
            "{},{:.0},{:.3},{:.2},{:.2},{:.1},{},{},{},{}",
            o.name,
            rate,
            rate / base,
            o.cpu * 1e6 / args.events as f64,
            o.engine_cpu * 1e6 / args.events as f64,
            o.catch_up.as_secs_f64() * 1e3,
            o.rows,
            o.records,
            o.bytes,
            o.peak_rss
        );
    }
    if let Some(path) = &args.csv {
        std::fs::write(path, csv).expect("write the CSV");
        eprintln!("wrote {path}");
    }
    if outcomes.iter().any(|o| o.verified == Some(false)) {
        std::process::exit(1);
    }
}
