//! SQL layer: turns SQL text into plans, reading the catalog through [`SessionCatalog`].
//!
//! `parse` wraps `sqlparser` (PostgreSQL dialect); `plan` binds names and types and produces
//! a [`Plan`], whose queries are [`riffle_expr::RelExpr`] trees. This crate never sees
//! storage or dataflows, so it can be tested with an in-memory catalog.
#![warn(missing_docs)]

mod catalog;
mod error;
mod expr;
mod plan;
mod query;
mod scope;
mod subquery;
mod system;
mod types;
mod window;

pub use catalog::{CatalogItem, ItemKind, SessionCatalog, TableDesc};
pub use error::PlanError;
pub use plan::{plan, DropKind, Params, Plan, PlanContext, ShowKind};
pub use types::parse_type_name;

/// A parsed SQL statement.
pub type Statement = sqlparser::ast::Statement;

/// Parses a string holding zero or more SQL statements separated by semicolons.
pub fn parse(sql: &str) -> Result<Vec<Statement>, PlanError> {
    use sqlparser::tokenizer::Tokenizer;
    let dialect = sqlparser::dialect::PostgreSqlDialect {};
    let tokens = Tokenizer::new(&dialect, sql)
        .tokenize_with_location()
        .map_err(|e| PlanError::Parse(e.to_string()))?;
    let tokens = rewrite_asof(tokens);
    sqlparser::parser::Parser::new(&dialect)
        .with_tokens_with_locations(tokens)
        .parse_statements()
        .map_err(|e| PlanError::Parse(e.to_string()))
}

/// Accepts DuckDB's point-in-time join syntax, `l ASOF [LEFT] JOIN r ON l.k = r.k AND l.ts >= r.ts`,
/// by rewriting it to sqlparser's `ASOF JOIN r MATCH_CONDITION (TRUE|FALSE) ON …`, where the
/// literal marks inner (TRUE) or left (FALSE); the planner then finds the inequality in ON.
fn rewrite_asof(tokens: Vec<sqlparser::tokenizer::TokenWithSpan>) -> Vec<sqlparser::tokenizer::TokenWithSpan> {
    use sqlparser::keywords::Keyword;
    use sqlparser::tokenizer::{Token, TokenWithSpan};
    let is_kw = |t: &Token, k: Keyword| matches!(t, Token::Word(w) if w.keyword == k);
    let significant: Vec<usize> = (0..tokens.len())
        .filter(|i| !matches!(tokens[*i].token, Token::Whitespace(_)))
        .collect();
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
