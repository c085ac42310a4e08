//! Statements: PostgreSQL's grammar as `sqlparser` reads it, plus Riffle's own.
//!
//! Text is tokenized once with sqlparser's PostgreSQL dialect and split into statements at
//! top-level semicolons. Each statement is then either one of Riffle's own (recognised by its
//! leading words and parsed here with sqlparser's building blocks: `parse_query`,
//! `parse_expr`, …) or handed whole to sqlparser. Small token rewrites admit syntax that
//! sqlparser's PostgreSQL dialect lacks: DuckDB's `ASOF [LEFT] JOIN` and Materialize's
//! `RETAIN HISTORY FOR '…'` option.

use crate::PlanError;
use sqlparser::ast;
use sqlparser::dialect::PostgreSqlDialect;
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
    let dialect = PostgreSqlDialect {};
    let tokens = Tokenizer::new(&dialect, sql)
        .tokenize_with_location()
        .map_err(|e| PlanError::Parse(e.to_string()))?;
    let mut out = Vec::new();
    for stmt in split_statements(tokens) {
        let stmt = rewrite_retain_history(rewrite_asof(stmt));
        out.push(parse_one(stmt)?);
    }
    Ok(out)
}

fn parse_error(e: impl fmt::Display) -> PlanError {
    PlanError::Parse(e.to_string())
}

fn parser(tokens: Vec<TokenWithSpan>) -> Parser<'static> {
    static DIALECT: PostgreSqlDialect = PostgreSqlDialect {};
    Parser::new(&DIALECT).with_tokens_with_locations(tokens)
}

/// Splits a token stream at top-level semicolons, dropping empty statements.
fn split_statements(tokens: Vec<TokenWithSpan>) -> Vec<Vec<TokenWithSpan>> {
    let mut out = Vec::new();
    let mut current = Vec::new();
    let mut depth = 0i32;
    for t in tokens {
        match t.token {
            Token::LParen | Token::LBracket => depth += 1,
            Token::RParen | Token::RBracket => depth -= 1,
            Token::SemiColon if depth <= 0 => {
                out.push(std::mem::take(&mut current));
                depth = 0;
                continue;
            }
            _ => {}
        }
        current.push(t);
    }
    out.push(current);
    out.into_iter()
        .filter(|s| s.iter().any(|t| !matches!(t.token, Token::Whitespace(_) | Token::EOF)))
        .collect()
}

fn is_word(t: &Token, word: &str) -> bool {
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

fn expect_end(p: &mut Parser) -> Result<(), PlanError> {
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

/// The part of a SUBSCRIBE after the keyword.
fn parse_subscribe(tokens: Vec<TokenWithSpan>) -> Result<Subscribe, PlanError> {
    let mut p = parser(tokens);
    let _ = p.parse_keyword(Keyword::TO);
    let query = if p.consume_token(&Token::LParen) {
        let q = p.parse_query().map_err(parse_error)?;
        p.expect_token(&Token::RParen).map_err(parse_error)?;
        q
    } else {
        let name = p.parse_object_name(false).map_err(parse_error)?;
        let mut q = parser(
            Tokenizer::new(&PostgreSqlDialect {}, &format!("SELECT * FROM {name}"))
                .tokenize_with_location()
                .map_err(parse_error)?,
        );
        q.parse_query().map_err(parse_error)?
    };
    let mut sub = Subscribe {
        query,
        snapshot: true,
        progress: false,
        as_of: None,
    };
    loop {
        if p.parse_keywords(&[Keyword::AS, Keyword::OF]) {
            sub.as_of = Some(p.parse_expr().map_err(parse_error)?);
        } else if p.parse_keyword(Keyword::WITH) {
            p.expect_token(&Token::LParen).map_err(parse_error)?;
            loop {
                let name = p.parse_identifier().map_err(parse_error)?.value.to_ascii_lowercase();
                let value = if p.consume_token(&Token::Eq) {
                    match p.parse_expr().map_err(parse_error)? {
                        ast::Expr::Value(v) => match v.value {
                            ast::Value::Boolean(b) => b,
                            ast::Value::SingleQuotedString(s) if s.eq_ignore_ascii_case("true") => true,
                            ast::Value::SingleQuotedString(s) if s.eq_ignore_ascii_case("false") => false,
                            other => return Err(PlanError::InvalidParameter(format!("SUBSCRIBE option {name} needs a boolean, not {other}"))),
                        },
                        other => return Err(PlanError::InvalidParameter(format!("SUBSCRIBE option {name} needs a boolean, not {other}"))),
                    }
                } else {
                    true
                };
                match name.as_str() {
                    "snapshot" => sub.snapshot = value,
                    "progress" => sub.progress = value,
                    other => return Err(PlanError::unsupported(format!("SUBSCRIBE option {other}"))),
                }
                if !p.consume_token(&Token::Comma) {
                    break;
                }
            }
            p.expect_token(&Token::RParen).map_err(parse_error)?;
        } else {
            break;
        }
    }
    expect_end(&mut p)?;
    Ok(sub)
}

/// Materialize's `RETAIN HISTORY FOR '<interval>'` option becomes the key-value option
/// `retain_history = '<interval>'` that sqlparser reads.
fn rewrite_retain_history(tokens: Vec<TokenWithSpan>) -> Vec<TokenWithSpan> {
    let sig = significant(&tokens);
    let mut starts = Vec::new();
    for w in sig.windows(3) {
        if is_word(&tokens[w[0]].token, "retain") && is_word(&tokens[w[1]].token, "history") && is_word(&tokens[w[2]].token, "for") {
            starts.push((w[0], w[2]));
        }
    }
    if starts.is_empty() {
        return tokens;
    }
    let mut out = Vec::with_capacity(tokens.len());
    let mut skip_until = None;
    for (i, t) in tokens.into_iter().enumerate() {
        if let Some(end) = skip_until {
            if i <= end {
                continue;
            }
            skip_until = None;
        }
        if let Some(&(_, end)) = starts.iter().find(|(s, _)| *s == i) {
            out.push(TokenWithSpan::wrap(Token::make_word("retain_history", None)));
            out.push(TokenWithSpan::wrap(Token::Whitespace(sqlparser::tokenizer::Whitespace::Space)));
            out.push(TokenWithSpan::wrap(Token::Eq));
            skip_until = Some(end);
            continue;
        }
        out.push(t);
    }
    out
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
        let Statement::Subscribe(s) = &stmts[1] else { panic!("{:?}", stmts[1]) };
        assert!(!s.snapshot && s.progress && s.as_of.is_none());
        assert_eq!(s.query.to_string(), "SELECT * FROM v");
        let Statement::AsOf { as_of, .. } = &stmts[2] else { panic!("{:?}", stmts[2]) };
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
    fn retain_history_becomes_an_option() {
        let stmts = parse("CREATE MATERIALIZED VIEW v WITH (RETAIN HISTORY FOR '1 hour') AS SELECT 1").unwrap();
        assert!(stmts[0].to_string().contains("retain_history = '1 hour'"), "{}", stmts[0]);
    }
}
