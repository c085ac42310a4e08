//! Random SQL from a small grammar over tables of the shape `(id integer NOT NULL, a integer,
//! b <numeric type>, s <text type>)`: queries (joins, aggregates, subqueries, window functions,
//! set operations), multi-way join queries, and batches of writes. Shared by the randomized
//! differential test (tests/random.rs) and the join stress test (tests/join_stress.rs).

/// A small deterministic generator (xorshift64*), so a seed reproduces a run anywhere.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    pub fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[self.below(xs.len() as u64) as usize]
    }
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

pub fn int_value(rng: &mut Rng) -> String {
    if rng.chance(15) {
        "NULL".into()
    } else {
        rng.below(6).to_string()
    }
}

pub fn text_value(rng: &mut Rng) -> String {
    if rng.chance(15) {
        "NULL".into()
    } else {
        format!("'{}'", rng.pick(&["x", "y", "z", ""]))
    }
}

pub fn row(rng: &mut Rng, id: u64) -> String {
    format!("({id}, {}, {}, {})", int_value(rng), int_value(rng), text_value(rng))
}

pub fn predicate(rng: &mut Rng, t: &str) -> String {
    match rng.below(6) {
        0 => format!("{t}.a > {}", rng.below(5)),
        1 => format!("{t}.b IS NULL"),
        2 => format!("{t}.s = '{}'", rng.pick(&["x", "y", ""])),
        3 => format!("{t}.a = {t}.b"),
        4 => format!("({t}.a < 3 OR {t}.s <> 'z')"),
        _ => format!("coalesce({t}.b, 0) + {t}.a <= 4"),
    }
}

/// A random query over tables t1(id, a, b, s) and t2(id, a, b, s).
///
/// Set operations combine columns of one type: where PostgreSQL deduplicates numerically equal
/// values of different scales (2 and 2.00) it keeps whichever it met first, which no
/// maintained view can reproduce, so such queries would compare arbitrary choices.
pub fn query(rng: &mut Rng) -> String {
    match rng.below(12) {
        0 => format!("SELECT a, b, s FROM t1 WHERE {}", predicate(rng, "t1")),
        1 => format!(
            "SELECT t1.s, {}(t1.b) AS agg, count(*) AS n FROM t1 {} JOIN t2 ON t1.a = t2.a GROUP BY t1.s",
            rng.pick(&["sum", "min", "max", "count", "avg"]),
            rng.pick(&["", "LEFT"])
        ),
        2 => format!(
            "SELECT a, count(DISTINCT s) AS nd, sum(b) AS sb FROM t{} GROUP BY a HAVING count(*) > {}",
            1 + rng.below(2),
            rng.below(3)
        ),
        3 => format!(
            "SELECT DISTINCT t1.a, t2.s FROM t1, t2 WHERE t1.b = t2.a AND {}",
            predicate(rng, "t2")
        ),
        4 => format!(
            "SELECT id, a FROM t1 WHERE a {} (SELECT b FROM t2 WHERE {})",
            rng.pick(&["IN", "NOT IN"]),
            predicate(rng, "t2")
        ),
        5 => format!(
            "SELECT id FROM t1 WHERE {}EXISTS (SELECT 1 FROM t2 WHERE t2.a = t1.a AND {})",
            rng.pick(&["", "NOT "]),
            predicate(rng, "t2")
        ),
        6 => {
            "SELECT id, (SELECT count(*) FROM t2 WHERE t2.b = t1.b) AS c, (SELECT max(t2.s) FROM t2 WHERE t2.a = t1.a) AS m FROM t1".into()
        }
        7 => format!(
            "SELECT id, a, {}() OVER (PARTITION BY a ORDER BY b, id) AS r FROM t1",
            rng.pick(&["row_number", "rank", "dense_rank"])
        ),
        8 => format!(
            "SELECT id, a, b FROM (SELECT id, a, b, row_number() OVER (PARTITION BY a ORDER BY b {} NULLS LAST, id) AS r FROM t{}) x WHERE r <= {}",
            rng.pick(&["ASC", "DESC"]),
            1 + rng.below(2),
            1 + rng.below(3)
        ),
        9 => format!(
            "SELECT min(b) AS lo, max(s) AS hi, bool_or(a > 2) AS any_big{} FROM t{} WHERE {}",
            rng.pick(&["", ", count(*) AS n", ", sum(a) AS sa"]),
            1 + rng.below(2),
            predicate(rng, "t1").replace("t1.", "")
        ),
        10 => format!(
            "SELECT id, b, s FROM t{} ORDER BY b {} NULLS FIRST, id LIMIT {} OFFSET {}",
            1 + rng.below(2),
            rng.pick(&["ASC", "DESC"]),
            1 + rng.below(4),
            rng.below(2)
        ),
        _ => format!(
            "SELECT s, a FROM t1 WHERE {} {} SELECT s, a FROM t2",
            predicate(rng, "t1"),
            rng.pick(&["UNION", "UNION ALL", "EXCEPT", "INTERSECT ALL"])
        ),
    }
}

/// A random batch of writes to one of t1 and t2.
pub fn writes(rng: &mut Rng, next_id: &mut u64) -> Vec<String> {
    writes_to(rng, &["t1", "t2"], next_id)
}

/// A random batch of writes (INSERT, UPDATE, DELETE) to one of `tables`; inserted ids count
/// up from `next_id`.
pub fn writes_to(rng: &mut Rng, tables: &[&str], next_id: &mut u64) -> Vec<String> {
    let t = rng.pick(tables);
    let mut out = Vec::new();
    for _ in 0..1 + rng.below(3) {
        out.push(match rng.below(4) {
            0 | 1 => {
                let rows: Vec<String> = (0..1 + rng.below(4))
                    .map(|_| {
                        *next_id += 1;
                        row(rng, *next_id)
                    })
                    .collect();
                format!("INSERT INTO {t} VALUES {}", rows.join(", "))
            }
            2 => format!(
                "UPDATE {t} SET b = {}, s = {} WHERE {}",
                int_value(rng),
                text_value(rng),
                predicate(rng, t)
            ),
            _ => format!("DELETE FROM {t} WHERE {}", predicate(rng, t)),
        });
    }
    out
}

/// A random inner join of three to five of `tables` (a table may appear twice, under another
/// alias), written in a random order with FROM-list commas or JOIN … ON, every alias connected
/// to another by an equality on `a` or `b`, plus filters.
pub fn join_query(rng: &mut Rng, tables: &[&str]) -> String {
    let n = 3 + rng.below(3) as usize;
    let aliases: Vec<(String, &str)> = (0..n).map(|i| (format!("x{i}"), rng.pick(tables))).collect();
    // A random spanning tree: alias i joins one of the aliases before it.
    let mut equalities = Vec::new();
    for i in 1..n {
        let j = rng.below(i as u64) as usize;
        let (ci, cj) = (rng.pick(&["a", "b"]), rng.pick(&["a", "b"]));
        equalities.push(format!("{}.{ci} = {}.{cj}", aliases[i].0, aliases[j].0));
    }
    let mut filters = Vec::new();
    for _ in 0..rng.below(3) {
        let (alias, _) = &aliases[rng.below(n as u64) as usize];
        filters.push(if rng.chance(30) {
            format!("{alias}.a = {}", rng.below(6))
        } else {
            predicate(rng, alias)
        });
    }
    // The written order is shuffled, so equalities often connect inputs that are far apart.
    let mut order: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        order.swap(i, rng.below(i as u64 + 1) as usize);
    }
    let select = if rng.chance(30) {
        format!(
            "{}.s, count(*) AS n, sum({}.a) AS total",
            aliases[order[0]].0,
            aliases[order[n - 1]].0
        )
    } else {
        order
            .iter()
            .take(3)
            .map(|&i| format!("{0}.id AS id{i}, {0}.a AS a{i}", aliases[i].0))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let group = if select.contains("count(*)") {
        format!(" GROUP BY {}.s", aliases[order[0]].0)
    } else {
        String::new()
    };
    let mut predicates = equalities;
    predicates.extend(filters);
    if rng.chance(50) {
        let from: Vec<String> = order.iter().map(|&i| format!("{} {}", aliases[i].1, aliases[i].0)).collect();
        format!("SELECT {select} FROM {} WHERE {}{group}", from.join(", "), predicates.join(" AND "))
    } else {
        // JOIN … ON TRUE chains with every predicate in WHERE: the planner must still find the
        // equalities.
        let mut from = format!("{} {}", aliases[order[0]].1, aliases[order[0]].0);
        for &i in &order[1..] {
            from.push_str(&format!(" JOIN {} {} ON true", aliases[i].1, aliases[i].0));
        }
        format!("SELECT {select} FROM {from} WHERE {}{group}", predicates.join(" AND "))
    }
}
