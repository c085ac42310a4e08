//! Riffle's SQL dialect: PostgreSQL's, with literals parsed without speculation.
//!
//! sqlparser's PostgreSQL prefix parser first tries every expression as a typed string
//! (`DATE '2020-05-20'`, `BOOL 'true'`): it parses a data type, and when that fails (as it
//! does for every plain literal) it formats an error message and backtracks. In a multi-row
//! `INSERT … VALUES` that is most of the parsing: ~28k instructions per row of two values
//! under callgrind. A number or a quoted string can never begin a typed string, so
//! [`RiffleDialect`] reads those as the value they are — the expression the fallback path
//! builds — and leaves everything else to sqlparser.
//!
//! Everything else is `PostgreSqlDialect`: each method PostgreSQL's dialect overrides is
//! delegated to it (the list follows sqlparser 0.64's `impl Dialect for PostgreSqlDialect`),
//! and the dialect reports PostgreSQL's type id, so the parser's `dialect_of!(… is
//! PostgreSqlDialect)` checks hold. The unit test parses every statement of the SQL test
//! corpus with both dialects and compares the trees; when upgrading sqlparser, compare the
//! delegated list with its PostgreSQL dialect again.

use sqlparser::ast::Expr;
use sqlparser::dialect::{BindPlaceholderStyle, Dialect, PostgreSqlDialect, Precedence};
use sqlparser::keywords::Keyword;
use sqlparser::parser::{Parser, ParserError};
use sqlparser::tokenizer::Token;
use std::any::TypeId;

/// PostgreSQL's dialect with a fast path for literals (see the module docs).
#[derive(Debug, Default, Clone, Copy)]
pub struct RiffleDialect;

const PG: PostgreSqlDialect = PostgreSqlDialect {};

/// Implements each listed method by calling PostgreSQL's dialect's.
macro_rules! delegate {
    ($(fn $name:ident(&self $(, $arg:ident: $typ:ty)*) -> $ret:ty;)*) => {
        $(
            fn $name(&self $(, $arg: $typ)*) -> $ret {
                PG.$name($($arg),*)
            }
        )*
    };
}

impl Dialect for RiffleDialect {
    fn dialect(&self) -> TypeId {
        TypeId::of::<PostgreSqlDialect>()
    }

    fn parse_prefix(&self, parser: &mut Parser) -> Option<Result<Expr, ParserError>> {
        match parser.peek_token_ref().token {
            Token::Number(..) | Token::SingleQuotedString(_) => Some(parser.parse_value().map(Expr::Value)),
            _ => None,
        }
    }

    // Every method `impl Dialect for PostgreSqlDialect` overrides (sqlparser 0.64).
    delegate! {
        fn identifier_quote_style(&self, identifier: &str) -> Option<char>;
        fn ordered_bind_placeholder_style(&self) -> Option<BindPlaceholderStyle>;
        fn is_delimited_identifier_start(&self, ch: char) -> bool;
        fn is_identifier_start(&self, ch: char) -> bool;
        fn is_identifier_part(&self, ch: char) -> bool;
        fn is_reserved_for_identifier(&self, kw: Keyword) -> bool;
        fn is_table_alias(&self, kw: &Keyword, parser: &mut Parser) -> bool;
        fn supports_string_literal_column_alias(&self, explicit: bool) -> bool;
        fn supports_string_literal_table_alias(&self, explicit: bool) -> bool;
        fn is_custom_operator_part(&self, ch: char) -> bool;
        fn get_next_precedence(&self, parser: &Parser) -> Option<Result<u8, ParserError>>;
        fn prec_value(&self, prec: Precedence) -> u8;
        fn is_interval_qualifier(&self, kw: Keyword) -> bool;
        fn is_custom_type_typed_string(&self, first_keyword: Keyword, qualified: bool) -> bool;
        fn supports_cte_materialization(&self) -> bool;
        fn supports_unicode_string_literal(&self) -> bool;
        fn supports_filter_during_aggregation(&self) -> bool;
        fn supports_group_by_expr(&self) -> bool;
        fn supports_drop_group(&self) -> bool;
        fn supports_alter_user_as_alter_role(&self) -> bool;
        fn supports_create_group(&self) -> bool;
        fn supports_create_role_if_not_exists(&self) -> bool;
        fn allow_extract_custom(&self) -> bool;
        fn allow_extract_single_quotes(&self) -> bool;
        fn supports_create_index_with_clause(&self) -> bool;
        fn supports_sql_option_without_value(&self) -> bool;
        fn supports_explain_with_utility_options(&self) -> bool;
        fn supports_listen_notify(&self) -> bool;
        fn supports_exclude_constraint(&self) -> bool;
        fn supports_factorial_operator(&self) -> bool;
        fn supports_bitwise_shift_operators(&self) -> bool;
        fn supports_tilde_like_match_operator(&self) -> bool;
        fn supports_comparison_in_between_low_bound(&self) -> bool;
        fn supports_comment_on(&self) -> bool;
        fn supports_load_extension(&self) -> bool;
        fn supports_named_fn_args_with_colon_operator(&self) -> bool;
        fn supports_named_fn_args_with_expr_name(&self) -> bool;
        fn supports_named_fn_args_with_assignment_operator(&self) -> bool;
        fn supports_empty_projections(&self) -> bool;
        fn supports_nested_comments(&self) -> bool;
        fn supports_copy_from_stdin_data(&self) -> bool;
        fn supports_string_escape_constant(&self) -> bool;
        fn supports_numeric_literal_underscores(&self) -> bool;
        fn supports_non_decimal_integer_literals(&self) -> bool;
        fn supports_array_typedef_with_brackets(&self) -> bool;
        fn supports_geometric_types(&self) -> bool;
        fn supports_order_by_using_operator(&self) -> bool;
        fn supports_set_names(&self) -> bool;
        fn supports_alter_column_type_using(&self) -> bool;
        fn supports_left_associative_joins_without_parens(&self) -> bool;
        fn supports_notnull_operator(&self) -> bool;
        fn supports_interval_options(&self) -> bool;
        fn supports_insert_table_alias(&self) -> bool;
        fn supports_create_table_like_parenthesized(&self) -> bool;
        fn supports_select_wildcard_with_alias(&self) -> bool;
        fn supports_comma_separated_trim(&self) -> bool;
        fn supports_xml_expressions(&self) -> bool;
        fn supports_aliased_function_args(&self) -> bool;
        fn supports_comment_optimizer_hint(&self) -> bool;
        fn supports_add_column_if_not_exists(&self) -> bool;
        fn supports_attach_partition_of(&self) -> bool;
        fn supports_detach_partition_of(&self) -> bool;
        fn supports_table_inheritance_markers(&self) -> bool;
        fn supports_column_generic_options(&self) -> bool;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every statement of the SQL test corpus (tests/slt) parses to the same tree with this
    /// dialect as with PostgreSQL's, and to the same error where PostgreSQL's fails.
    #[test]
    fn parses_the_corpus_as_postgresql_does() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/slt");
        let mut statements = 0;
        for entry in std::fs::read_dir(&dir).expect("tests/slt") {
            let path = entry.unwrap().path();
            let text = std::fs::read_to_string(&path).unwrap();
            // Records are separated by blank lines; a statement or query runs from the line
            // after its `statement`/`query` header to the `----` line or the record's end.
            for record in text.split("\n\n") {
                let mut lines = record.lines().skip_while(|l| l.starts_with('#') || l.trim().is_empty());
                let Some(header) = lines.next() else { continue };
                if !(header.starts_with("statement") || header.starts_with("query")) {
                    continue;
                }
                let sql: Vec<&str> = lines.take_while(|l| *l != "----").collect();
                let sql = sql.join("\n");
                let pg = Parser::parse_sql(&PostgreSqlDialect {}, &sql).map(|s| format!("{s:?}"));
                let riffle = Parser::parse_sql(&RiffleDialect, &sql).map(|s| format!("{s:?}"));
                assert_eq!(
                    riffle.as_ref().map_err(ToString::to_string),
                    pg.as_ref().map_err(ToString::to_string),
                    "{}: {sql}",
                    path.display()
                );
                statements += 1;
            }
        }
        assert!(statements > 500, "read {statements} statements");
        for sql in [
            "INSERT INTO t VALUES (1, 'a'), (-2, 'b''c'), (3.5e2, E'\\n'), (DATE '2020-01-02', $$d$$)",
            "SELECT '1'::int + 2, 'x' || 'y', 1 IS NULL, 'a' LIKE 'b', INTERVAL '1' DAY, '{1,2}'::int[]",
            "SELECT 1 'alias'",
            "SELECT 'a' 'b'",
        ] {
            let pg = Parser::parse_sql(&PostgreSqlDialect {}, sql).map(|s| format!("{s:?}"));
            let riffle = Parser::parse_sql(&RiffleDialect, sql).map(|s| format!("{s:?}"));
            assert_eq!(riffle.map_err(|e| e.to_string()), pg.map_err(|e| e.to_string()), "{sql}");
        }
    }
}
