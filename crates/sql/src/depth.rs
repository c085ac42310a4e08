//! A guard against statements nested too deeply for any thread's stack (see [`check_depth`]).

use crate::statement::{CreateModel, Statement};
use crate::PlanError;
use sqlparser::ast;

/// How deeply a statement's expressions may nest (see [`check_depth`]).
pub const MAX_EXPR_DEPTH: usize = 1000;

/// Refuses a statement whose expressions nest deeper than `MAX_EXPR_DEPTH`, with 54001
/// (PostgreSQL's "stack depth limit exceeded"), before anything walks it.
///
/// sqlparser limits the nesting it reaches by recursing (parentheses, function calls) but
/// builds an operator chain (`a + b + c …`, `x AND y AND …`, `v::int::text…`) in a loop, as a
/// left-deep tree as deep as the chain is long. Cloning, formatting, planning and dropping
/// that tree all recurse, so a long enough chain overflowed a thread's stack and aborted the
/// server. The walk here stops at the limit, so it never recurses deeper itself.
pub(crate) fn check_depth(stmt: &Statement) -> Result<(), PlanError> {
    use sqlparser::ast::{Visit, Visitor};
    use std::ops::ControlFlow;
    struct Depth(usize);
    impl Visitor for Depth {
        type Break = ();
        fn pre_visit_expr(&mut self, _: &ast::Expr) -> ControlFlow<()> {
            self.0 += 1;
            if self.0 > MAX_EXPR_DEPTH {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        }
        fn post_visit_expr(&mut self, _: &ast::Expr) -> ControlFlow<()> {
            self.0 -= 1;
            ControlFlow::Continue(())
        }
    }
    let mut depth = Depth(0);
    let d = &mut depth;
    let flow = match stmt {
        Statement::Sql(s) => s.visit(d),
        Statement::AsOf { query, as_of } => (|| {
            query.visit(d)?;
            as_of.visit(d)
        })(),
        Statement::Subscribe(s) => (|| {
            s.query.visit(d)?;
            s.as_of.visit(d)
        })(),
        Statement::CreateModel(CreateModel { train: Some(train), .. }) => train.query.visit(d),
        // Names and option values only.
        Statement::CreateConnection(_)
        | Statement::CreateSource(_)
        | Statement::CreateSink(_)
        | Statement::DropObjects { .. }
        | Statement::Show(_)
        | Statement::CreateModel(_) => ControlFlow::Continue(()),
    };
    match flow {
        ControlFlow::Break(()) => Err(PlanError::TooDeep(MAX_EXPR_DEPTH)),
        ControlFlow::Continue(()) => Ok(()),
    }
}
