//! Parsing Riffle's own statements with sqlparser's building blocks: SUBSCRIBE,
//! CREATE CONNECTION, CREATE SOURCE, CREATE SINK and CREATE MODEL, and their WITH options.

use crate::dialect::RiffleDialect;
use crate::statement::*;
use crate::PlanError;
use sqlparser::ast;
use sqlparser::keywords::Keyword;
use sqlparser::parser::Parser;
use sqlparser::tokenizer::{Token, TokenWithSpan, Tokenizer};

/// The part of a SUBSCRIBE after the keyword.
pub(crate) fn parse_subscribe(tokens: Vec<TokenWithSpan>) -> Result<Subscribe, PlanError> {
    let mut p = parser(tokens);
    let _ = p.parse_keyword(Keyword::TO);
    let query = if p.consume_token(&Token::LParen) {
        let q = p.parse_query().map_err(parse_error)?;
        p.expect_token(&Token::RParen).map_err(parse_error)?;
        q
    } else {
        let name = p.parse_object_name(false).map_err(parse_error)?;
        let mut q = parser(
            Tokenizer::new(&RiffleDialect, &format!("SELECT * FROM {name}"))
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
                            other => {
                                return Err(PlanError::InvalidParameter(format!(
                                    "SUBSCRIBE option {name} needs a boolean, not {other}"
                                )))
                            }
                        },
                        other => {
                            return Err(PlanError::InvalidParameter(format!(
                                "SUBSCRIBE option {name} needs a boolean, not {other}"
                            )))
                        }
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

impl ObjectKind {
    /// The SQL keyword.
    pub fn keyword(&self) -> &'static str {
        match self {
            ObjectKind::Connection => "CONNECTION",
            ObjectKind::Source => "SOURCE",
            ObjectKind::Sink => "SINK",
            ObjectKind::Model => "MODEL",
        }
    }
}

fn peek_word(p: &Parser, w: &str) -> bool {
    is_word(&p.peek_token().token, w)
}

fn eat_word(p: &mut Parser, w: &str) -> bool {
    if peek_word(p, w) {
        p.next_token();
        true
    } else {
        false
    }
}

fn expect_word(p: &mut Parser, w: &str) -> Result<(), PlanError> {
    if eat_word(p, w) {
        Ok(())
    } else {
        Err(parse_error(format!(
            "sql parser error: Expected: {}, found: {}",
            w.to_ascii_uppercase(),
            p.peek_token().token
        )))
    }
}

/// `a, b, c`: identifiers, case-folded as sqlparser does.
pub(crate) fn identifiers(p: &mut Parser) -> Result<Vec<String>, PlanError> {
    Ok(p.parse_comma_separated(|p| p.parse_identifier())
        .map_err(parse_error)?
        .into_iter()
        .map(|i| i.value)
        .collect())
}

/// `[ENVELOPE word]`, upper-cased.
fn parse_envelope(p: &mut Parser, expected: &str) -> Result<Option<String>, PlanError> {
    if !eat_word(p, "envelope") {
        return Ok(None);
    }
    match p.next_token().token {
        Token::Word(w) => Ok(Some(w.value.to_ascii_uppercase())),
        t => Err(parse_error(format!("sql parser error: Expected: {expected}, found: {t}"))),
    }
}

fn if_not_exists(p: &mut Parser) -> bool {
    p.parse_keywords(&[Keyword::IF, Keyword::NOT, Keyword::EXISTS])
}

/// `( NAME [NAME …] [=] value, … )`: option names are one or more words; the value is a
/// string, a number, a word, or absent.
fn parse_options(p: &mut Parser) -> Result<Vec<StatementOption>, PlanError> {
    p.expect_token(&Token::LParen).map_err(parse_error)?;
    let mut out = Vec::new();
    loop {
        let mut name = Vec::new();
        while let Token::Word(w) = p.peek_token().token {
            name.push(w.value.to_ascii_uppercase());
            p.next_token();
        }
        if name.is_empty() {
            return Err(parse_error(format!(
                "sql parser error: Expected: option name, found: {}",
                p.peek_token().token
            )));
        }
        let _ = p.consume_token(&Token::Eq);
        let value = match p.peek_token().token {
            Token::SingleQuotedString(s) => {
                p.next_token();
                Some(s)
            }
            Token::Number(n, _) => {
                p.next_token();
                // `RETRAIN AFTER CHANGE 10%`
                if p.consume_token(&Token::Mod) {
                    Some(format!("{n}%"))
                } else {
                    Some(n)
                }
            }
            Token::LParen => {
                // A parenthesized list (START OFFSET (0, 10)): kept as its text.
                p.next_token();
                let mut items = Vec::new();
                loop {
                    let e = p.parse_expr().map_err(parse_error)?;
                    items.push(e.to_string());
                    if !p.consume_token(&Token::Comma) {
                        break;
                    }
                }
                p.expect_token(&Token::RParen).map_err(parse_error)?;
                Some(format!("({})", items.join(", ")))
            }
            _ => None,
        };
        out.push((name.join(" "), value));
        if !p.consume_token(&Token::Comma) {
            break;
        }
    }
    p.expect_token(&Token::RParen).map_err(parse_error)?;
    Ok(out)
}

pub(crate) fn parse_create_connection(p: &mut Parser, text: String) -> Result<CreateConnection, PlanError> {
    let if_not_exists = if_not_exists(p);
    let name = p.parse_identifier().map_err(parse_error)?.value;
    let _ = p.parse_keyword(Keyword::TO);
    expect_word(p, "kafka")?;
    let options = parse_options(p)?;
    Ok(CreateConnection {
        name,
        if_not_exists,
        options,
        text,
    })
}

fn parse_format(p: &mut Parser) -> Result<FormatSpec, PlanError> {
    let found = p.peek_token().token;
    if eat_word(p, "json") {
        Ok(FormatSpec::Json)
    } else if eat_word(p, "text") {
        Ok(FormatSpec::Text)
    } else if eat_word(p, "bytes") {
        Ok(FormatSpec::Bytes)
    } else if eat_word(p, "csv") {
        expect_word(p, "with")?;
        if eat_word(p, "header") {
            let mut names = Vec::new();
            if p.consume_token(&Token::LParen) {
                names = identifiers(p)?;
                p.expect_token(&Token::RParen).map_err(parse_error)?;
            }
            Ok(FormatSpec::CsvHeader(names))
        } else {
            let n = p.parse_literal_uint().map_err(parse_error)?;
            expect_word(p, "columns")?;
            Ok(FormatSpec::CsvColumns(n as usize))
        }
    } else if eat_word(p, "avro") {
        expect_word(p, "using")?;
        expect_word(p, "schema")?;
        Ok(FormatSpec::Avro(p.parse_literal_string().map_err(parse_error)?))
    } else {
        Err(parse_error(format!(
            "sql parser error: Expected: JSON, TEXT, BYTES, CSV or AVRO, found: {found}"
        )))
    }
}

pub(crate) fn parse_create_source(p: &mut Parser, text: String) -> Result<CreateSource, PlanError> {
    let if_not_exists = if_not_exists(p);
    let name = p.parse_identifier().map_err(parse_error)?.value;
    let mut columns = Vec::new();
    if p.consume_token(&Token::LParen) {
        columns = p.parse_comma_separated(|p| p.parse_column_def()).map_err(parse_error)?;
        p.expect_token(&Token::RParen).map_err(parse_error)?;
    }
    expect_word(p, "from")?;
    expect_word(p, "kafka")?;
    expect_word(p, "connection")?;
    let connection = p.parse_identifier().map_err(parse_error)?.value;
    let mut options = parse_options(p)?;
    let mut start_offsets = None;
    if let Some(pos) = options.iter().position(|(n, _)| n == "START OFFSET") {
        let (_, v) = options.remove(pos);
        let v = v.unwrap_or_default();
        let list = v.trim_start_matches('(').trim_end_matches(')');
        start_offsets = Some(
            list.split(',')
                .filter(|s| !s.trim().is_empty())
                .map(|s| s.trim().parse::<i64>())
                .collect::<Result<Vec<_>, _>>()
                .map_err(|_| PlanError::InvalidValue(format!("START OFFSET needs a list of integers, not {v}")))?,
        );
    }
    let mut key_format = None;
    let format = if eat_word(p, "key") {
        expect_word(p, "format")?;
        key_format = Some(parse_format(p)?);
        expect_word(p, "value")?;
        expect_word(p, "format")?;
        parse_format(p)?
    } else if eat_word(p, "format") {
        parse_format(p)?
    } else {
        FormatSpec::Bytes
    };
    let mut include = Vec::new();
    if eat_word(p, "include") {
        loop {
            let what = match p.next_token().token {
                Token::Word(w) => w.value.to_ascii_uppercase(),
                t => {
                    return Err(parse_error(format!(
                        "sql parser error: Expected: KEY, PARTITION, OFFSET or TIMESTAMP, found: {t}"
                    )))
                }
            };
            let alias = if p.parse_keyword(Keyword::AS) {
                Some(p.parse_identifier().map_err(parse_error)?.value)
            } else {
                None
            };
            include.push((what, alias));
            if !p.consume_token(&Token::Comma) {
                break;
            }
        }
    }
    let envelope = parse_envelope(p, "NONE, UPSERT or DEBEZIUM")?;
    Ok(CreateSource {
        name,
        if_not_exists,
        columns,
        connection,
        options,
        start_offsets,
        key_format,
        format,
        include,
        envelope,
        text,
    })
}

pub(crate) fn parse_create_model(p: &mut Parser, or_replace: bool, text: String) -> Result<CreateModel, PlanError> {
    let if_not_exists = if_not_exists(p);
    let name = p.parse_identifier().map_err(parse_error)?.value;
    let (path, train) = if eat_word(p, "train") {
        let algorithm = p.parse_identifier().map_err(parse_error)?.value;
        expect_word(p, "on")?;
        p.expect_token(&Token::LParen).map_err(parse_error)?;
        let query = p.parse_query().map_err(parse_error)?;
        p.expect_token(&Token::RParen).map_err(parse_error)?;
        expect_word(p, "target")?;
        let target = p.parse_identifier().map_err(parse_error)?.value;
        (String::new(), Some(TrainSpec { algorithm, query, target }))
    } else {
        expect_word(p, "from")?;
        (p.parse_literal_string().map_err(parse_error)?, None)
    };
    let options = if p.parse_keyword(Keyword::WITH) {
        parse_options(p)?.into_iter().map(|(k, v)| (k.to_ascii_lowercase(), v)).collect()
    } else {
        Vec::new()
    };
    Ok(CreateModel {
        name,
        or_replace,
        if_not_exists,
        path,
        train,
        options,
        text,
    })
}

pub(crate) fn parse_create_sink(p: &mut Parser, text: String) -> Result<CreateSink, PlanError> {
    let if_not_exists = if_not_exists(p);
    let name = p.parse_identifier().map_err(parse_error)?.value;
    expect_word(p, "from")?;
    let from = p.parse_identifier().map_err(parse_error)?.value;
    expect_word(p, "into")?;
    expect_word(p, "kafka")?;
    expect_word(p, "connection")?;
    let connection = p.parse_identifier().map_err(parse_error)?.value;
    let options = parse_options(p)?;
    let mut key = Vec::new();
    if eat_word(p, "key") {
        p.expect_token(&Token::LParen).map_err(parse_error)?;
        key = identifiers(p)?;
        p.expect_token(&Token::RParen).map_err(parse_error)?;
    }
    expect_word(p, "format")?;
    let format = parse_format(p)?;
    let envelope = parse_envelope(p, "DEBEZIUM or UPSERT")?;
    Ok(CreateSink {
        name,
        if_not_exists,
        from,
        connection,
        options,
        key,
        format,
        envelope,
        text,
    })
}
