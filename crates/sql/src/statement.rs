//! Statements: PostgreSQL's grammar as `sqlparser` reads it, plus Riffle's own.
//!
//! Text is tokenized once with sqlparser's PostgreSQL dialect and split into statements at
//! top-level semicolons. Each statement is then either one of Riffle's own (recognised by its
//! leading words and parsed here with sqlparser's building blocks: `parse_query`,
//! `parse_expr`, …) or handed whole to sqlparser. Small token rewrites admit syntax that
//! sqlparser's PostgreSQL dialect lacks: DuckDB's `ASOF [LEFT] JOIN` and Materialize's
//! `RETAIN HISTORY FOR '…'` and `REFRESH EVERY '…' [ALIGNED TO …]` options.

use crate::dialect::RiffleDialect;
use crate::extensions::*;
use crate::PlanError;
use sqlparser::ast;
use sqlparser::keywords::Keyword;
use sqlparser::parser::Parser;
use sqlparser::tokenizer::{Token, TokenWithSpan, Tokenizer};
use std::fmt;

/// A parsed statement.
#[derive(Clone, Debug, PartialEq)]
pub enum Statement {
    /// A statement of PostgreSQL's grammar.
    Sql(ast::Statement),
    /// `<query> AS OF <time>`: a query read at a retained past time.
    AsOf {
        /// The query.
        query: Box<ast::Query>,
        /// The time: milliseconds since the epoch, or a timestamp.
        as_of: ast::Expr,
    },
    /// `SUBSCRIBE [TO] <relation | (query)> [AS OF <time>] [WITH (SNAPSHOT [= bool], PROGRESS [= bool])]`,
    /// also written `COPY (SUBSCRIBE …) TO STDOUT`.
    Subscribe(Subscribe),
    /// `CREATE CONNECTION name TO KAFKA (BROKER '…', …)`.
    CreateConnection(CreateConnection),
    /// `CREATE SOURCE name [(columns)] FROM KAFKA CONNECTION c (TOPIC '…') FORMAT … [INCLUDE …] [ENVELOPE …]`.
    CreateSource(CreateSource),
    /// `CREATE SINK name FROM relation INTO KAFKA CONNECTION c (TOPIC '…') [KEY (…)] FORMAT JSON [ENVELOPE …]`.
    CreateSink(CreateSink),
    /// `DROP CONNECTION | SOURCE | SINK [IF EXISTS] name, … [CASCADE]`.
    DropObjects {
        /// What kind of object.
        kind: ObjectKind,
        /// Names.
        names: Vec<String>,
        /// IF EXISTS was given.
        if_exists: bool,
        /// CASCADE was given.
        cascade: bool,
    },
    /// `SHOW CONNECTIONS | SOURCES | SINKS | MODELS`.
    Show(ObjectKind),
    /// `CREATE [OR REPLACE] MODEL [IF NOT EXISTS] name FROM 'path' [WITH (format = 'onnx')]`, or
    /// `… name TRAIN <algorithm> ON (<query>) TARGET <column> [WITH (…)]`.
    CreateModel(CreateModel),
}

/// `CREATE MODEL`.
#[derive(Clone, Debug, PartialEq)]
pub struct CreateModel {
    /// Name.
    pub name: String,
    /// OR REPLACE: a new version of an existing model.
    pub or_replace: bool,
    /// IF NOT EXISTS.
    pub if_not_exists: bool,
    /// The file to read (on the server); empty when trained.
    pub path: String,
    /// `TRAIN …`: the model is fitted to a query's rows.
    pub train: Option<TrainSpec>,
    /// WITH options (format, …), lower-cased names.
    pub options: Vec<StatementOption>,
    /// The statement's text.
    pub text: String,
}

/// `TRAIN <algorithm> ON (<query>) TARGET <column>`.
#[derive(Clone, Debug, PartialEq)]
pub struct TrainSpec {
    /// `LINEAR_REGRESSION`, `LOGISTIC_REGRESSION` or `MLP`.
    pub algorithm: String,
    /// The training query.
    pub query: Box<ast::Query>,
    /// The column to predict.
    pub target: String,
}

/// Riffle's own kinds of catalog object.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ObjectKind {
    /// A connection to an external system.
    Connection,
    /// A source.
    Source,
    /// A sink.
    Sink,
    /// A model.
    Model,
}

/// One `NAME [= value]` option of a CONNECTION or SOURCE (name words upper-cased and joined
/// with spaces; the value as text).
pub type StatementOption = (String, Option<String>);

/// `CREATE CONNECTION`.
#[derive(Clone, Debug, PartialEq)]
pub struct CreateConnection {
    /// Name.
    pub name: String,
    /// IF NOT EXISTS.
    pub if_not_exists: bool,
    /// The options (BROKER, SECURITY PROTOCOL, SASL …).
    pub options: Vec<StatementOption>,
    /// The statement's text (what the catalog stores).
    pub text: String,
}

/// A FORMAT clause as written.
#[derive(Clone, Debug, PartialEq)]
pub enum FormatSpec {
    /// JSON
    Json,
    /// TEXT
    Text,
    /// BYTES
    Bytes,
    /// CSV WITH HEADER [(names)]
    CsvHeader(Vec<String>),
    /// CSV WITH n COLUMNS
    CsvColumns(usize),
    /// AVRO USING SCHEMA '…'
    Avro(String),
}

/// `CREATE SOURCE`.
#[derive(Clone, Debug, PartialEq)]
pub struct CreateSource {
    /// Name.
    pub name: String,
    /// IF NOT EXISTS.
    pub if_not_exists: bool,
    /// Declared value columns.
    pub columns: Vec<ast::ColumnDef>,
    /// The connection's name.
    pub connection: String,
    /// TOPIC and the other options in parentheses.
    pub options: Vec<StatementOption>,
    /// START OFFSET (…) values.
    pub start_offsets: Option<Vec<i64>>,
    /// KEY FORMAT.
    pub key_format: Option<FormatSpec>,
    /// (VALUE) FORMAT.
    pub format: FormatSpec,
    /// INCLUDE items: (KEY | PARTITION | OFFSET | TIMESTAMP, alias).
    pub include: Vec<(String, Option<String>)>,
    /// ENVELOPE (NONE, UPSERT, DEBEZIUM), upper-cased.
    pub envelope: Option<String>,
    /// The statement's text.
    pub text: String,
}

/// `CREATE SINK`.
#[derive(Clone, Debug, PartialEq)]
pub struct CreateSink {
    /// Name.
    pub name: String,
    /// IF NOT EXISTS.
    pub if_not_exists: bool,
    /// The relation whose changes are written.
    pub from: String,
    /// The connection's name.
    pub connection: String,
    /// TOPIC and other options.
    pub options: Vec<StatementOption>,
    /// KEY (columns).
    pub key: Vec<String>,
    /// FORMAT (only JSON).
    pub format: FormatSpec,
    /// ENVELOPE (DEBEZIUM or UPSERT), upper-cased.
    pub envelope: Option<String>,
    /// The statement's text.
    pub text: String,
}

/// A SUBSCRIBE statement.
#[derive(Clone, Debug, PartialEq)]
pub struct Subscribe {
    /// What to watch.
    pub query: Box<ast::Query>,
    /// Start with the current contents (default true).
    pub snapshot: bool,
    /// Also emit a row each time the subscription's time advances.
    pub progress: bool,
    /// Start from this (retained) time instead of now.
    pub as_of: Option<ast::Expr>,
}

impl Statement {
    /// The statement's text with its secrets masked (`PASSWORD '…'` of a role, a connection's
    /// options): what may be logged.
    pub fn redacted(&self) -> String {
        match self {
            Statement::Sql(ast::Statement::CreateRole(c)) if c.password.is_some() => {
                let mut c = c.clone();
                c.password = Some(ast::Password::Password(ast::Expr::value(ast::Value::SingleQuotedString(
                    "********".into(),
                ))));
                ast::Statement::CreateRole(c).to_string()
            }
            Statement::Sql(ast::Statement::AlterRole { name, .. }) => format!("ALTER ROLE {name} …"),
            Statement::CreateConnection(c) => format!("CREATE CONNECTION {} …", c.name),
            other => other.to_string(),
        }
    }
}

impl fmt::Display for Statement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Statement::Sql(s) => write!(f, "{s}"),
            Statement::AsOf { query, as_of } => write!(f, "{query} AS OF {as_of}"),
            Statement::Subscribe(s) => {
                write!(f, "SUBSCRIBE ({})", s.query)?;
                if let Some(t) = &s.as_of {
                    write!(f, " AS OF {t}")?;
                }
                write!(f, " WITH (SNAPSHOT = {}, PROGRESS = {})", s.snapshot, s.progress)
            }
            Statement::CreateConnection(c) => write!(f, "{}", c.text),
            Statement::CreateSource(c) => write!(f, "{}", c.text),
            Statement::CreateSink(c) => write!(f, "{}", c.text),
            Statement::DropObjects {
                kind,
                names,
                if_exists,
                cascade,
            } => write!(
                f,
                "DROP {}{} {}{}",
                kind.keyword(),
                if *if_exists { " IF EXISTS" } else { "" },
                names.join(", "),
                if *cascade { " CASCADE" } else { "" }
            ),
            Statement::Show(kind) => write!(f, "SHOW {}S", kind.keyword()),
            Statement::CreateModel(c) => write!(f, "{}", c.text),
        }
    }
}

impl From<ast::Statement> for Statement {
    fn from(s: ast::Statement) -> Self {
        Statement::Sql(s)
    }
}

/// Parses a string holding zero or more SQL statements separated by semicolons.
pub fn parse(sql: &str) -> Result<Vec<Statement>, PlanError> {
    let tokens = Tokenizer::new(&RiffleDialect, sql)
        .tokenize_with_location()
        .map_err(|e| PlanError::Parse(e.to_string()))?;
    let mut out = Vec::new();
    for stmt in split_statements(tokens) {
        let stmt = rewrite_view_options(rewrite_asof(rewrite_top(stmt)));
        let stmt = parse_one(stmt)?;
        crate::depth::check_depth(&stmt)?;
        out.push(stmt);
    }
    Ok(out)
}

pub(crate) fn parse_error(e: impl fmt::Display) -> PlanError {
    PlanError::Parse(e.to_string())
}

pub(crate) fn parser(tokens: Vec<TokenWithSpan>) -> Parser<'static> {
    Parser::new(&RiffleDialect).with_tokens_with_locations(tokens)
}

/// Splits a token stream at top-level semicolons, dropping empty statements.
fn split_statements(mut tokens: Vec<TokenWithSpan>) -> Vec<Vec<TokenWithSpan>> {
    let mut cuts = Vec::new();
    let mut depth = 0i32;
    for (i, t) in tokens.iter().enumerate() {
        match t.token {
            Token::LParen | Token::LBracket => depth += 1,
            Token::RParen | Token::RBracket => depth -= 1,
            Token::SemiColon if depth <= 0 => {
                cuts.push(i);
                depth = 0;
            }
            _ => {}
        }
    }
    // Cut from the back, so that each statement's tokens move once (a single statement, the
    // usual case, keeps the tokenizer's vector; a multi-row INSERT has tens of thousands).
    let mut out = Vec::with_capacity(cuts.len() + 1);
    for &cut in cuts.iter().rev() {
        out.push(tokens.split_off(cut + 1));
        tokens.pop();
    }
    out.push(tokens);
    out.reverse();
    out.retain(|s| s.iter().any(|t| !matches!(t.token, Token::Whitespace(_) | Token::EOF)));
    out
}

pub(crate) fn is_word(t: &Token, word: &str) -> bool {
    matches!(t, Token::Word(w) if w.quote_style.is_none() && w.value.eq_ignore_ascii_case(word))
}

/// Indexes of the tokens that are not whitespace.
fn significant(tokens: &[TokenWithSpan]) -> Vec<usize> {
    (0..tokens.len())
        .filter(|i| !matches!(tokens[*i].token, Token::Whitespace(_) | Token::EOF))
        .collect()
}

fn parse_one(tokens: Vec<TokenWithSpan>) -> Result<Statement, PlanError> {
    let sig = significant(&tokens);
    let word = |n: usize, w: &str| sig.get(n).is_some_and(|&i| is_word(&tokens[i].token, w));
    let text = || tokens.iter().map(|t| t.token.to_string()).collect::<String>().trim().to_string();
    if word(0, "create") {
        let mut n = 1;
        let kind = if word(1, "connection") {
            Some(ObjectKind::Connection)
        } else if word(1, "source") {
            Some(ObjectKind::Source)
        } else if word(1, "sink") {
            Some(ObjectKind::Sink)
        } else {
            None
        };
        let or_replace = word(1, "or") && word(2, "replace") && word(3, "model");
        if word(1, "model") || or_replace {
            let at = if or_replace { 3 } else { 1 };
            let mut p = parser(tokens[sig[at] + 1..].to_vec());
            let stmt = Statement::CreateModel(parse_create_model(&mut p, or_replace, text())?);
            expect_end(&mut p)?;
            return Ok(stmt);
        }
        if let Some(kind) = kind {
            n += 1;
            let mut p = parser(tokens[sig[n - 1] + 1..].to_vec());
            let stmt = match kind {
                ObjectKind::Connection => Statement::CreateConnection(parse_create_connection(&mut p, text())?),
                ObjectKind::Source => Statement::CreateSource(parse_create_source(&mut p, text())?),
                ObjectKind::Sink => Statement::CreateSink(parse_create_sink(&mut p, text())?),
                ObjectKind::Model => unreachable!("handled above"),
            };
            expect_end(&mut p)?;
            return Ok(stmt);
        }
    }
    for (verb, kinds) in [("drop", true), ("show", false)] {
        if !word(0, verb) {
            continue;
        }
        let kind = [
            (ObjectKind::Connection, "connection"),
            (ObjectKind::Source, "source"),
            (ObjectKind::Sink, "sink"),
            (ObjectKind::Model, "model"),
        ]
        .into_iter()
        .find(|(_, w)| if kinds { word(1, w) } else { word(1, &format!("{w}s")) });
        let Some((kind, _)) = kind else { continue };
        let mut p = parser(tokens[sig[1] + 1..].to_vec());
        let stmt = if kinds {
            let if_exists = p.parse_keywords(&[Keyword::IF, Keyword::EXISTS]);
            let names = identifiers(&mut p)?;
            let cascade = p.parse_keyword(Keyword::CASCADE);
            let _ = p.parse_keyword(Keyword::RESTRICT);
            Statement::DropObjects {
                kind,
                names,
                if_exists,
                cascade,
            }
        } else {
            Statement::Show(kind)
        };
        expect_end(&mut p)?;
        return Ok(stmt);
    }
    // `CREATE USER` and `ALTER USER` are PostgreSQL's spellings of CREATE ROLE … LOGIN and
    // ALTER ROLE (sqlparser reads them as Snowflake's users).
    if (word(0, "create") || word(0, "alter")) && word(1, "user") && !word(2, "mapping") {
        let mut tokens = tokens;
        tokens[sig[1]].token = Token::make_keyword("ROLE");
        let mut p = parser(tokens);
        let mut stmt = p.parse_statement().map_err(parse_error)?;
        expect_end(&mut p)?;
        if let ast::Statement::CreateRole(c) = &mut stmt {
            c.login = Some(c.login.unwrap_or(true));
        }
        return Ok(Statement::Sql(stmt));
    }
    // `GRANT|REVOKE … ON MODEL m …`: Riffle's object kind, planned as the item it names.
    if word(0, "grant") || word(0, "revoke") {
        if let Some(n) = (1..sig.len()).find(|&n| word(n, "on") && word(n + 1, "model")) {
            let mut tokens = tokens;
            tokens.remove(sig[n + 1]);
            let mut p = parser(tokens);
            let stmt = p.parse_statement().map_err(parse_error)?;
            expect_end(&mut p)?;
            return Ok(Statement::Sql(stmt));
        }
    }
    if word(0, "subscribe") {
        return parse_subscribe(tokens[sig[0] + 1..].to_vec()).map(Statement::Subscribe);
    }
    // `COPY (SUBSCRIBE …) TO STDOUT`, as psql users of Materialize write it.
    if word(0, "copy") && sig.get(1).is_some_and(|&i| tokens[i].token == Token::LParen) && word(2, "subscribe") {
        let close = matching_paren(&tokens, sig[1]).ok_or_else(|| parse_error("unbalanced parentheses in COPY"))?;
        let rest: Vec<&Token> = tokens[close + 1..]
            .iter()
            .map(|t| &t.token)
            .filter(|t| !matches!(t, Token::Whitespace(_) | Token::EOF))
            .collect();
        if !(rest.len() == 2 && is_word(rest[0], "to") && is_word(rest[1], "stdout")) {
            return Err(parse_error("COPY (SUBSCRIBE …) must be followed by TO STDOUT"));
        }
        return parse_subscribe(tokens[sig[2] + 1..close].to_vec()).map(Statement::Subscribe);
    }
    // `<query> AS OF <time>`: a top-level AS OF ends the query.
    let mut depth = 0i32;
    for (n, &i) in sig.iter().enumerate() {
        match tokens[i].token {
            Token::LParen | Token::LBracket => depth += 1,
            Token::RParen | Token::RBracket => depth -= 1,
            _ if depth == 0 && is_word(&tokens[i].token, "as") && word(n + 1, "of") => {
                let mut p = parser(tokens[..i].to_vec());
                let query = p.parse_query().map_err(parse_error)?;
                expect_end(&mut p)?;
                let mut p = parser(tokens[sig[n + 1] + 1..].to_vec());
                let as_of = p.parse_expr().map_err(parse_error)?;
                expect_end(&mut p)?;
                return Ok(Statement::AsOf { query, as_of });
            }
            _ => {}
        }
    }
    let mut p = parser(tokens);
    let stmt = p.parse_statement().map_err(parse_error)?;
    expect_end(&mut p)?;
    Ok(Statement::Sql(stmt))
}

pub(crate) fn expect_end(p: &mut Parser) -> Result<(), PlanError> {
    match p.peek_token().token {
        Token::EOF => Ok(()),
        t => Err(parse_error(format!("sql parser error: Expected: end of statement, found: {t}"))),
    }
}

fn matching_paren(tokens: &[TokenWithSpan], open: usize) -> Option<usize> {
    let mut depth = 0i32;
    for (i, t) in tokens.iter().enumerate().skip(open) {
        match t.token {
            Token::LParen => depth += 1,
            Token::RParen => {
                depth -= 1;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
    }
    None
}

/// Materialize's spelled-out view options become the key-value options sqlparser reads:
/// `RETAIN HISTORY FOR '<interval>'` → `retain_history = '<interval>'`, `REFRESH EVERY
/// '<interval>' [ALIGNED TO <time>]` → `refresh_every = '<interval>' [, aligned_to = <time>]`,
/// `EXPECTED GROUP SIZE [=] <n>` → `expected_group_size = <n>` (an `=` after a phrase is
/// taken as part of it).
fn rewrite_view_options(tokens: Vec<TokenWithSpan>) -> Vec<TokenWithSpan> {
    const PHRASES: &[(&[&str], &str, bool)] = &[
        (&["retain", "history", "for"], "retain_history", false),
        (&["refresh", "every"], "refresh_every", false),
        (&["aligned", "to"], "aligned_to", true),
        (&["expected", "group", "size"], "expected_group_size", false),
    ];
    let sig = significant(&tokens);
    if !sig.first().is_some_and(|&i| is_word(&tokens[i].token, "create")) {
        return tokens;
    }
    // (first token, last token, option key, comma before it)
    let mut starts: Vec<(usize, usize, &str, bool)> = Vec::new();
    for (k, &first) in sig.iter().enumerate() {
        for (words, key, comma) in PHRASES {
            let matched = words
                .iter()
                .enumerate()
                .all(|(j, w)| sig.get(k + j).is_some_and(|&i| is_word(&tokens[i].token, w)));
            if matched {
                // A comma separates it from an option before it (not from the opening '(').
                let after_option = k > 0 && !matches!(tokens[sig[k - 1]].token, Token::LParen | Token::Comma);
                let mut last = sig[k + words.len() - 1];
                if let Some(&eq) = sig.get(k + words.len()).filter(|&&i| tokens[i].token == Token::Eq) {
                    last = eq;
                }
                starts.push((first, last, key, *comma && after_option));
            }
        }
    }
    if starts.is_empty() {
        return tokens;
    }
    let space = || TokenWithSpan::wrap(Token::Whitespace(sqlparser::tokenizer::Whitespace::Space));
    let mut out = Vec::with_capacity(tokens.len());
    let mut skip_until = None;
    for (i, t) in tokens.into_iter().enumerate() {
        if let Some(end) = skip_until {
            if i <= end {
                continue;
            }
            skip_until = None;
        }
        if let Some(&(_, end, key, comma)) = starts.iter().find(|(s, ..)| *s == i) {
            if comma {
                out.push(TokenWithSpan::wrap(Token::Comma));
                out.push(space());
            }
            out.push(TokenWithSpan::wrap(Token::make_word(key, None)));
            out.push(space());
            out.push(TokenWithSpan::wrap(Token::Eq));
            skip_until = Some(end);
            continue;
        }
        out.push(t);
    }
    out
}

/// sqlparser reads `TOP n` (SQL Server's LIMIT) after `SELECT [ALL | DISTINCT [ON (…)]]` in
/// every dialect, so `SELECT top FROM t` failed; PostgreSQL has no TOP, and a `top` there is a
/// column. It is quoted (`"top"`, the name unquoted `top` folds to) so sqlparser reads it as one.
fn rewrite_top(mut tokens: Vec<TokenWithSpan>) -> Vec<TokenWithSpan> {
    let sig = significant(&tokens);
    let word = |tokens: &[TokenWithSpan], n: usize, w: &str| sig.get(n).is_some_and(|&i| is_word(&tokens[i].token, w));
    for k in 0..sig.len() {
        if !word(&tokens, k, "select") {
            continue;
        }
        let mut j = k + 1;
        if word(&tokens, j, "all") {
            j += 1;
        } else if word(&tokens, j, "distinct") {
            j += 1;
            if word(&tokens, j, "on") && sig.get(j + 1).is_some_and(|&i| tokens[i].token == Token::LParen) {
                // Past the balanced parentheses of DISTINCT ON (…).
                let mut depth = 0;
                j += 1;
                while let Some(&i) = sig.get(j) {
                    match tokens[i].token {
                        Token::LParen => depth += 1,
                        Token::RParen => depth -= 1,
                        _ => {}
                    }
                    j += 1;
                    if depth == 0 {
                        break;
                    }
                }
            }
        }
        if word(&tokens, j, "top") {
            let i = sig[j];
            tokens[i].token = Token::Word(sqlparser::tokenizer::Word {
                value: "top".into(),
                quote_style: Some('"'),
                keyword: sqlparser::keywords::Keyword::NoKeyword,
            });
        }
    }
    tokens
}

/// Accepts DuckDB's point-in-time join syntax, `l ASOF [LEFT] JOIN r ON l.k = r.k AND l.ts >= r.ts`,
/// by rewriting it to sqlparser's `ASOF JOIN r MATCH_CONDITION (TRUE|FALSE) ON …`, where the
/// literal marks inner (TRUE) or left (FALSE); the planner then finds the inequality in ON.
fn rewrite_asof(tokens: Vec<TokenWithSpan>) -> Vec<TokenWithSpan> {
    let is_kw = |t: &Token, k: Keyword| matches!(t, Token::Word(w) if w.keyword == k);
    let significant = significant(&tokens);
    let mut remove = Vec::new();
    let mut insert_before: Vec<(usize, bool)> = Vec::new();
    for (pos, &i) in significant.iter().enumerate() {
        if !is_kw(&tokens[i].token, Keyword::ASOF) {
            continue;
        }
        let mut next = pos + 1;
        let left = significant.get(next).is_some_and(|&j| is_kw(&tokens[j].token, Keyword::LEFT));
        if left {
            remove.push(significant[next]);
            next += 1;
        }
        if !significant.get(next).is_some_and(|&j| is_kw(&tokens[j].token, Keyword::JOIN)) {
            continue;
        }
        let mut depth = 0i32;
        for &j in &significant[next + 1..] {
            match &tokens[j].token {
                Token::LParen => depth += 1,
                Token::RParen => depth -= 1,
                t if depth == 0 && is_kw(t, Keyword::MATCH_CONDITION) => break,
                t if depth == 0 && is_kw(t, Keyword::ON) => {
                    insert_before.push((j, !left));
                    break;
                }
                _ => {}
            }
        }
    }
    if remove.is_empty() && insert_before.is_empty() {
        return tokens;
    }
    let mut out = Vec::with_capacity(tokens.len() + 6 * insert_before.len());
    for (i, t) in tokens.into_iter().enumerate() {
        if remove.contains(&i) {
            continue;
        }
        if let Some((_, inner)) = insert_before.iter().find(|(j, _)| *j == i) {
            for tok in [
                Token::make_keyword("MATCH_CONDITION"),
                Token::LParen,
                Token::make_keyword(if *inner { "TRUE" } else { "FALSE" }),
                Token::RParen,
                Token::Whitespace(sqlparser::tokenizer::Whitespace::Space),
            ] {
                out.push(TokenWithSpan::wrap(tok));
            }
        }
        out.push(t);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_and_recognises_riffle_statements() {
        let stmts = parse("SELECT 1; ; SUBSCRIBE TO v WITH (SNAPSHOT = false, PROGRESS); SELECT * FROM t AS OF 42").unwrap();
        assert_eq!(stmts.len(), 3);
        assert!(matches!(stmts[0], Statement::Sql(_)));
        let Statement::Subscribe(s) = &stmts[1] else {
            panic!("{:?}", stmts[1])
        };
        assert!(!s.snapshot && s.progress && s.as_of.is_none());
        assert_eq!(s.query.to_string(), "SELECT * FROM v");
        let Statement::AsOf { as_of, .. } = &stmts[2] else {
            panic!("{:?}", stmts[2])
        };
        assert_eq!(as_of.to_string(), "42");
    }

    #[test]
    fn copy_subscribe_and_as_of_inside_subscribe() {
        let stmts = parse("COPY (SUBSCRIBE (SELECT a FROM t WHERE a > 1) AS OF 7) TO STDOUT").unwrap();
        let Statement::Subscribe(s) = &stmts[0] else { panic!() };
        assert!(s.snapshot);
        assert_eq!(s.as_of.as_ref().unwrap().to_string(), "7");
        assert!(parse("COPY (SUBSCRIBE t) TO 'file'").is_err());
        assert!(parse("SUBSCRIBE t WITH (FOO)").is_err());
    }

    #[test]
    fn semicolons_inside_strings_and_parens_do_not_split() {
        let stmts = parse("SELECT ';' AS x; SELECT (1)").unwrap();
        assert_eq!(stmts.len(), 2);
    }

    #[test]
    fn kafka_statements() {
        let stmts = parse(
            "CREATE CONNECTION k TO KAFKA (BROKER 'localhost:9092', SECURITY PROTOCOL = 'PLAINTEXT');
             CREATE SOURCE IF NOT EXISTS s (a int, b text) FROM KAFKA CONNECTION k (TOPIC 't', START OFFSET (0, 5))
               KEY FORMAT TEXT VALUE FORMAT JSON INCLUDE KEY AS k, PARTITION, OFFSET ENVELOPE UPSERT;
             CREATE SOURCE c FROM KAFKA CONNECTION k (TOPIC 'c') FORMAT CSV WITH 3 COLUMNS;
             CREATE SINK out FROM v INTO KAFKA CONNECTION k (TOPIC 'o') KEY (id) FORMAT JSON ENVELOPE DEBEZIUM;
             DROP SOURCE IF EXISTS s, c CASCADE; SHOW SOURCES",
        )
        .unwrap();
        let Statement::CreateConnection(c) = &stmts[0] else { panic!() };
        assert_eq!(
            c.options,
            vec![
                ("BROKER".into(), Some("localhost:9092".into())),
                ("SECURITY PROTOCOL".into(), Some("PLAINTEXT".into()))
            ]
        );
        let Statement::CreateSource(s) = &stmts[1] else { panic!() };
        assert!(s.if_not_exists);
        assert_eq!(s.columns.len(), 2);
        assert_eq!(s.start_offsets, Some(vec![0, 5]));
        assert_eq!(s.key_format, Some(FormatSpec::Text));
        assert_eq!(s.format, FormatSpec::Json);
        assert_eq!(
            s.include,
            vec![
                ("KEY".into(), Some("k".into())),
                ("PARTITION".into(), None),
                ("OFFSET".into(), None)
            ]
        );
        assert_eq!(s.envelope.as_deref(), Some("UPSERT"));
        assert!(s.text.starts_with("CREATE SOURCE IF NOT EXISTS s (a int"), "{}", s.text);
        let Statement::CreateSource(c) = &stmts[2] else { panic!() };
        assert_eq!(c.format, FormatSpec::CsvColumns(3));
        let Statement::CreateSink(k) = &stmts[3] else { panic!() };
        assert_eq!(
            (k.from.as_str(), k.key.clone(), k.envelope.as_deref()),
            ("v", vec!["id".to_string()], Some("DEBEZIUM"))
        );
        assert!(
            matches!(&stmts[4], Statement::DropObjects { kind: ObjectKind::Source, names, if_exists: true, cascade: true } if names.len() == 2)
        );
        assert!(matches!(stmts[5], Statement::Show(ObjectKind::Source)));
        // Round trip through the stored text.
        assert_eq!(parse(&stmts[1].to_string()).unwrap()[0], stmts[1]);
    }

    #[test]
    fn retain_history_becomes_an_option() {
        let stmts = parse("CREATE MATERIALIZED VIEW v WITH (RETAIN HISTORY FOR '1 hour') AS SELECT 1").unwrap();
        assert!(stmts[0].to_string().contains("retain_history = '1 hour'"), "{}", stmts[0]);
        let stmts =
            parse("CREATE MATERIALIZED VIEW v WITH (REFRESH EVERY '1 day' ALIGNED TO 1000, RETAIN HISTORY FOR '1 hour') AS SELECT 1")
                .unwrap();
        let text = stmts[0].to_string();
        assert!(
            text.contains("refresh_every = '1 day', aligned_to = 1000, retain_history = '1 hour'"),
            "{text}"
        );
        for sql in [
            "CREATE MATERIALIZED VIEW v WITH (EXPECTED GROUP SIZE 100000) AS SELECT 1",
            "CREATE MATERIALIZED VIEW v WITH (EXPECTED GROUP SIZE = 100000) AS SELECT 1",
            "CREATE MATERIALIZED VIEW v WITH (expected_group_size = 100000) AS SELECT 1",
        ] {
            let text = parse(sql).unwrap()[0].to_string();
            assert!(text.contains("WITH (expected_group_size = 100000)"), "{sql} → {text}");
        }
    }

    #[test]
    fn top_is_a_column() {
        for sql in [
            "SELECT top FROM t",
            "SELECT TOP, x FROM t",
            "SELECT DISTINCT top FROM t",
            "SELECT ALL top + 1 AS t2 FROM t",
            "SELECT DISTINCT ON (x, (y)) top FROM t ORDER BY x",
            "SELECT x FROM (SELECT top FROM t) s WHERE s.top > 1",
        ] {
            let stmt = parse(sql).unwrap().pop().unwrap();
            let text = stmt.to_string();
            assert!(text.contains("\"top\""), "{sql} → {text}");
            assert_eq!(parse(&text).unwrap()[0], stmt, "prints and parses back: {text}");
        }
    }
}
