//! Function calls: a name and its arguments to a `Func` with the result type PostgreSQL gives
//! it (string, math, date/time, JSON, array, model and vector functions), and the coercions
//! each signature asks of its arguments.

use crate::coerce::cast_in;
use crate::expr::*;
use crate::plan::Planner;
use crate::PlanError;
use riffle_expr::{Func, ScalarExpr};
use riffle_repr::{Datum, ScalarType};
use sqlparser::ast::{self, Expr};

impl Planner<'_> {
    pub(crate) fn plan_function(&mut self, cx: ExprCx, f: &ast::Function) -> Result<Typed, PlanError> {
        if let Some(over) = &f.over {
            return self.plan_window_call(cx, f, over);
        }
        let name = f
            .name
            .0
            .last()
            .map(|p| p.to_string().to_ascii_lowercase().trim_matches('"').to_string())
            .unwrap_or_default();
        if AGGREGATES.contains(&name.as_str()) {
            let where_ = if cx.clause == "aggregate" {
                "aggregate function calls cannot be nested".to_string()
            } else {
                format!("aggregate functions are not allowed in {}", cx.clause)
            };
            return Err(PlanError::Grouping(where_));
        }
        let (args, distinct, star) = self.function_args(f)?;
        if distinct || star {
            return Err(PlanError::UnknownFunction(format!("function {name} is not an aggregate")));
        }
        let owned: Vec<Expr> = args.into_iter().cloned().collect();
        self.plan_func_call(cx, &name, &owned, true)
    }

    pub(crate) fn plan_func_call(&mut self, cx: ExprCx, name: &str, args: &[Expr], _explicit: bool) -> Result<Typed, PlanError> {
        use ScalarType as T;
        let arity_err = || PlanError::UnknownFunction(format!("function {name} with {} arguments does not exist", args.len()));
        let mut planned = Vec::with_capacity(args.len());
        for a in args {
            planned.push(self.plan_expr(cx, a)?);
        }
        // The argument helpers cast in the session's zone without holding the planner, which
        // the arms below also need.
        let zone = self.ctx.zone.clone();
        let text_arg = |t: Typed| -> Result<Typed, PlanError> { cast_in(&zone, t, &T::String, matches!(name, "concat" | "concat_ws")) };
        let int_arg = |t: Typed| -> Result<Typed, PlanError> {
            if t.typ.is_integer() || t.typ == T::Unknown {
                cast_in(&zone, t, &T::Int64, false)
            } else {
                Err(PlanError::UnknownFunction(format!("function {name}({}) does not exist", t.typ)))
            }
        };
        let n = planned.len();
        let call =
            |func: Func, args: Vec<Typed>, typ: T| Ok(Typed::new(ScalarExpr::call(func, args.into_iter().map(|a| a.expr).collect()), typ));
        let texts = |planned: Vec<Typed>| planned.into_iter().map(text_arg).collect::<Result<Vec<_>, _>>();
        match (name, n) {
            ("lower", 1) => call(Func::Lower, texts(planned)?, T::String),
            ("upper", 1) => call(Func::Upper, texts(planned)?, T::String),
            ("length" | "char_length" | "character_length", 1) => call(Func::CharLength, texts(planned)?, T::Int32),
            ("octet_length", 1) => call(Func::OctetLength, planned, T::Int32),
            ("encode", 2) => {
                let mut it = planned.into_iter();
                let bytes = self.cast(it.next().unwrap(), &T::Bytes, false)?;
                call(Func::Encode, vec![bytes, text_arg(it.next().unwrap())?], T::String)
            }
            ("decode", 2) => call(Func::Decode, texts(planned)?, T::Bytes),
            ("predict" | "predict_proba", n) if n >= 2 => {
                let proba = name == "predict_proba";
                let mut it = planned.into_iter();
                let (model_name, desc) = self.model_arg(name, it.next())?;
                if let crate::ModelOutput::Embedding(_) = desc.output {
                    return Err(PlanError::UnknownFunction(format!(
                        "function {name}('{model_name}', …) does not exist: {model_name} is a text-embedding model (use embed('{model_name}', text))"
                    )));
                }
                let features: Vec<Typed> = it.collect();
                let args = match features.as_slice() {
                    [one] if matches!(one.typ, T::Array(_)) => vec![self.cast(one.clone(), &T::Array(Box::new(T::Float64)), false)?],
                    _ => {
                        if features.len() != desc.inputs {
                            return Err(PlanError::UnknownFunction(format!(
                                "function {name}('{model_name}', …) with {} features does not exist: the model takes {} (or one float8[])",
                                features.len(),
                                desc.inputs
                            )));
                        }
                        features
                            .into_iter()
                            .map(|t| {
                                if t.typ.is_numeric() || t.typ == T::Unknown {
                                    self.cast(t, &T::Float64, false)
                                } else {
                                    Err(PlanError::TypeMismatch(format!("{name} features must be numbers, not {}", t.typ)))
                                }
                            })
                            .collect::<Result<Vec<_>, _>>()?
                    }
                };
                let typ = match (&desc.output, proba) {
                    (crate::ModelOutput::Regression, true) => {
                        return Err(PlanError::UnknownFunction(format!(
                            "predict_proba needs a classifier; {model_name} is a regressor"
                        )))
                    }
                    (_, true) => T::Array(Box::new(T::Float64)),
                    (crate::ModelOutput::Regression, false) => T::Float64,
                    (crate::ModelOutput::IntClasses(_), false) => T::Int64,
                    (crate::ModelOutput::StringClasses(_), false) => T::String,
                    (crate::ModelOutput::Embedding(_), false) => unreachable!("refused above"),
                };
                call(Func::Predict { model: model_name, proba }, args, typ)
            }
            ("width_bucket", 4) => {
                let mut it = planned.into_iter();
                let mut args = Vec::new();
                for _ in 0..3 {
                    let t = it.next().expect("four arguments");
                    if !(t.typ.is_numeric() || t.typ == T::Unknown) {
                        return Err(PlanError::UnknownFunction(format!(
                            "function width_bucket({}, …) does not exist",
                            t.typ
                        )));
                    }
                    args.push(self.cast(t, &T::Float64, false)?);
                }
                args.push(self.cast(it.next().expect("four arguments"), &T::Int32, false)?);
                call(Func::WidthBucket, args, T::Int32)
            }
            ("width_bucket" | "one_hot", 2) => {
                let mut it = planned.into_iter();
                let (x, list) = (it.next().expect("two arguments"), it.next().expect("two arguments"));
                let elem = match &list.typ {
                    T::Array(e) => (**e).clone(),
                    other => {
                        return Err(PlanError::UnknownFunction(format!(
                            "function {name}({}, {other}) does not exist",
                            x.typ
                        )))
                    }
                };
                let (x, list) = if elem.is_numeric() && (x.typ.is_numeric() || x.typ == T::Unknown) {
                    (
                        self.cast(x, &T::Float64, false)?,
                        self.cast(list, &T::Array(Box::new(T::Float64)), false)?,
                    )
                } else {
                    let x = self.cast(x, &elem, false)?;
                    (x, list)
                };
                if name == "one_hot" {
                    call(Func::OneHot, vec![x, list], T::Array(Box::new(T::Float64)))
                } else {
                    call(Func::WidthBucketArray, vec![x, list], T::Int32)
                }
            }
            ("word_count", 1) => call(Func::WordCount, texts(planned)?, T::Int32),
            ("tokenize", 2) => {
                let mut it = planned.into_iter();
                let (model_name, desc) = self.model_arg(name, it.next())?;
                if !matches!(desc.output, crate::ModelOutput::Embedding(_)) {
                    return Err(PlanError::UnknownFunction(format!(
                        "function tokenize('{model_name}', text) does not exist: {model_name} has no tokenizer"
                    )));
                }
                let text = text_arg(it.next().expect("two arguments"))?;
                call(Func::Tokenize { model: model_name }, vec![text], T::Array(Box::new(T::Int32)))
            }
            ("embed", 2) => {
                let mut it = planned.into_iter();
                let (model_name, desc) = self.model_arg(name, it.next())?;
                if !matches!(desc.output, crate::ModelOutput::Embedding(_)) {
                    return Err(PlanError::UnknownFunction(format!(
                        "function embed('{model_name}', text) does not exist: {model_name} predicts from numeric features (use predict)"
                    )));
                }
                let text = it.next().expect("two arguments");
                if !matches!(text.typ, T::String | T::VarChar { .. } | T::Unknown) {
                    return Err(PlanError::TypeMismatch(format!("embed needs text, not {}", text.typ)));
                }
                let text = text_arg(text)?;
                call(Func::Embed { model: model_name }, vec![text], T::Array(Box::new(T::Float32)))
            }
            ("cosine_similarity" | "l2_distance" | "inner_product", 2) => {
                let func = match name {
                    "cosine_similarity" => Func::CosineSimilarity,
                    "l2_distance" => Func::L2Distance,
                    _ => Func::InnerProduct,
                };
                let vectors = planned
                    .into_iter()
                    .map(|t| {
                        if !matches!(t.typ, T::Array(_) | T::Unknown) {
                            return Err(PlanError::UnknownFunction(format!(
                                "function {name}({}) does not exist: it takes two arrays",
                                t.typ
                            )));
                        }
                        self.cast(t, &T::Array(Box::new(T::Float64)), false)
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                call(func, vectors, T::Float64)
            }
            ("substr" | "substring", 2 | 3) => {
                let mut it = planned.into_iter();
                let mut a = vec![text_arg(it.next().unwrap())?];
                for rest in it {
                    a.push(int_arg(rest)?);
                }
                call(Func::Substr, a, T::String)
            }
            ("btrim" | "trim", 1 | 2) => call(Func::BTrim, texts(planned)?, T::String),
            ("ltrim", 1 | 2) => call(Func::LTrim, texts(planned)?, T::String),
            ("rtrim", 1 | 2) => call(Func::RTrim, texts(planned)?, T::String),
            ("replace", 3) => call(Func::Replace, texts(planned)?, T::String),
            ("position", 2) => call(Func::Position, texts(planned)?, T::Int32),
            ("strpos", 2) => {
                let mut a = texts(planned)?;
                a.swap(0, 1);
                call(Func::Position, a, T::Int32)
            }
            ("left" | "right", 2) => {
                let mut it = planned.into_iter();
                let a = vec![text_arg(it.next().unwrap())?, int_arg(it.next().unwrap())?];
                call(if name == "left" { Func::Left } else { Func::Right }, a, T::String)
            }
            ("lpad" | "rpad", 2 | 3) => {
                let mut it = planned.into_iter();
                let mut a = vec![text_arg(it.next().unwrap())?, int_arg(it.next().unwrap())?];
                if let Some(fill) = it.next() {
                    a.push(text_arg(fill)?);
                }
                call(if name == "lpad" { Func::Lpad } else { Func::Rpad }, a, T::String)
            }
            ("split_part", 3) => {
                let mut it = planned.into_iter();
                let a = vec![
                    text_arg(it.next().unwrap())?,
                    text_arg(it.next().unwrap())?,
                    int_arg(it.next().unwrap())?,
                ];
                call(Func::SplitPart, a, T::String)
            }
            ("starts_with", 2) => call(Func::StartsWith, texts(planned)?, T::Bool),
            ("reverse", 1) => call(Func::Reverse, texts(planned)?, T::String),
            ("initcap", 1) => call(Func::Initcap, texts(planned)?, T::String),
            ("repeat", 2) => {
                let mut it = planned.into_iter();
                let a = vec![text_arg(it.next().unwrap())?, int_arg(it.next().unwrap())?];
                call(Func::Repeat, a, T::String)
            }
            ("concat", _) => call(Func::Concat, texts(planned)?, T::String),
            ("concat_ws", n) if n >= 1 => call(Func::ConcatWs, texts(planned)?, T::String),
            ("ascii", 1) => call(Func::Ascii, texts(planned)?, T::Int32),
            ("chr", 1) => {
                let a = vec![int_arg(planned.into_iter().next().unwrap())?];
                call(Func::Chr, a, T::String)
            }
            ("regexp_replace", 3 | 4) => call(Func::RegexpReplace, texts(planned)?, T::String),
            ("abs", 1) => {
                let a = self.numeric_arg(planned.into_iter().next().unwrap(), name)?;
                let typ = a.typ.clone();
                call(Func::Abs, vec![a], typ)
            }
            ("ceil" | "ceiling" | "floor", 1) => {
                let a = self.numeric_arg(planned.into_iter().next().unwrap(), name)?;
                let a = if a.typ.is_integer() { self.cast(a, &T::Float64, false)? } else { a };
                let typ = if a.typ == T::Float32 {
                    T::Float64
                } else {
                    a.typ.without_modifiers()
                };
                let a = self.cast(a, &typ, false)?;
                call(if name == "floor" { Func::Floor } else { Func::Ceil }, vec![a], typ)
            }
            ("round" | "trunc", 1) => {
                let a = self.numeric_arg(planned.into_iter().next().unwrap(), name)?;
                let typ = if a.typ.is_integer() || a.typ == T::Float32 {
                    T::Float64
                } else {
                    a.typ.without_modifiers()
                };
                let a = self.cast(a, &typ, false)?;
                call(if name == "round" { Func::Round } else { Func::Trunc }, vec![a], typ)
            }
            ("round" | "trunc", 2) => {
                let mut it = planned.into_iter();
                let a = self.cast(self.numeric_arg(it.next().unwrap(), name)?, &T::NUMERIC, false)?;
                let s = self.cast(it.next().unwrap(), &T::Int32, false)?;
                call(if name == "round" { Func::Round } else { Func::Trunc }, vec![a, s], T::NUMERIC)
            }
            ("sqrt" | "exp" | "ln" | "log" | "log10" | "sign", 1) => {
                let a = self.numeric_arg(planned.into_iter().next().unwrap(), name)?;
                let typ = if a.typ.is_integer() || matches!(a.typ, T::Float32 | T::Float64) {
                    T::Float64
                } else {
                    T::NUMERIC
                };
                let a = self.cast(a, &typ, false)?;
                let func = match name {
                    "sqrt" => Func::Sqrt,
                    "exp" => Func::Exp,
                    "ln" => Func::Ln,
                    "sign" => Func::Sign,
                    _ => Func::Log10,
                };
                call(func, vec![a], typ)
            }
            ("pi", 0) => Ok(Typed::lit(Datum::f64(std::f64::consts::PI), T::Float64)),
            (_, n) if riffle_expr::FloatFn::from_name(name).is_some_and(|(_, arity)| arity == n) => {
                let (f, _) = riffle_expr::FloatFn::from_name(name).expect("checked");
                let args = planned
                    .into_iter()
                    .map(|p| {
                        let p = self.numeric_arg(p, name)?;
                        self.cast(p, &T::Float64, false)
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                call(Func::FloatMath(f), args, T::Float64)
            }
            ("power" | "pow", 2) => {
                let items = planned
                    .into_iter()
                    .map(|p| self.numeric_arg(p, name))
                    .collect::<Result<Vec<_>, _>>()?;
                let typ = if items.iter().all(|i| matches!(i.typ, T::Numeric { .. })) {
                    T::NUMERIC
                } else {
                    T::Float64
                };
                let items = items
                    .into_iter()
                    .map(|i| self.cast(i, &typ, false))
                    .collect::<Result<Vec<_>, _>>()?;
                call(Func::Power, items, typ)
            }
            ("mod", 2) => {
                let items = self.unify(planned, "mod")?;
                let typ = items[0].typ.clone();
                call(Func::Mod, items, typ)
            }
            ("greatest" | "least", n) if n >= 1 => {
                let items = self.unify(planned, name)?;
                let typ = items[0].typ.clone();
                call(if name == "greatest" { Func::Greatest } else { Func::Least }, items, typ)
            }
            ("coalesce", n) if n >= 1 => {
                let items = self.unify(planned, "COALESCE")?;
                let typ = items[0].typ.clone();
                Ok(Typed::new(ScalarExpr::Coalesce(items.into_iter().map(|i| i.expr).collect()), typ))
            }
            ("nullif", 2) => {
                let items = self.unify(planned, "NULLIF")?;
                let typ = items[0].typ.clone();
                call(Func::NullIf, items, typ)
            }
            ("date_trunc", 2) => {
                let mut it = planned.into_iter();
                let unit = text_arg(it.next().unwrap())?;
                let ts = self.coerce_datetime_arg(it.next().unwrap())?;
                // PostgreSQL resolves date_trunc(text, date) to the timestamptz overload.
                let ts = if ts.typ == T::Date {
                    self.cast(ts, &T::TimestampTz, false)?
                } else {
                    ts
                };
                let typ = ts.typ.clone();
                call(Func::DateTrunc, vec![unit, ts], typ)
            }
            ("date_trunc", 3) => {
                // date_trunc(unit, ts, zone): truncate the wall-clock time in `zone`.
                let zone = self.constant_zone(cx, &args[2])?;
                let mut it = planned.into_iter();
                let unit = text_arg(it.next().expect("three arguments"))?;
                let local = self.at_time_zone(
                    self.cast(it.next().expect("three arguments"), &T::TimestampTz, false)?,
                    zone.clone(),
                )?;
                let truncated = Typed::new(ScalarExpr::call(Func::DateTrunc, vec![unit.expr, local.expr]), T::Timestamp);
                self.at_time_zone(truncated, zone)
            }
            ("mz_now", 0) => Ok(Typed::new(ScalarExpr::call(Func::MzNow, vec![]), T::TimestampTz)),
            ("date_bin", 3) => {
                let mut it = planned.into_iter();
                let stride = self.cast(it.next().expect("three arguments"), &T::Interval, false)?;
                let source = it.next().expect("three arguments");
                let source = match source.typ {
                    T::Timestamp | T::TimestampTz => source,
                    _ => self.cast(source, &T::Timestamp, false)?,
                };
                let typ = source.typ.clone();
                let origin = self.cast(it.next().expect("three arguments"), &typ, false)?;
                call(Func::DateBin, vec![stride, source, origin], typ)
            }
            ("to_char", 2) => {
                let mut it = planned.into_iter();
                let ts = self.coerce_datetime_arg(it.next().expect("two arguments"))?;
                if ts.typ == T::Interval {
                    return Err(PlanError::unsupported("to_char of an interval"));
                }
                let fmt = text_arg(it.next().expect("two arguments"))?;
                call(Func::ToChar, vec![ts, fmt], T::String)
            }
            ("date_part", 2) => {
                let mut it = planned.into_iter();
                let unit = text_arg(it.next().unwrap())?;
                let ts = self.coerce_datetime_arg(it.next().unwrap())?;
                call(Func::DatePart, vec![unit, ts], T::Float64)
            }
            ("make_date", 3) => {
                let a = planned.into_iter().map(&int_arg).collect::<Result<Vec<_>, _>>()?;
                call(Func::MakeDate, a, T::Date)
            }
            ("age", 2) => {
                let a = planned
                    .into_iter()
                    .map(|p| self.cast(p, &T::Timestamp, false))
                    .collect::<Result<Vec<_>, _>>()?;
                call(Func::Age, a, T::Interval)
            }
            ("to_timestamp", 1) => {
                let a = self.cast(planned.into_iter().next().unwrap(), &T::Float64, false)?;
                call(Func::ToTimestamp, vec![a], T::TimestampTz)
            }
            ("now" | "current_timestamp" | "transaction_timestamp" | "statement_timestamp", 0) => self.now_literal(T::TimestampTz),
            ("version", 0) => Ok(Typed::lit(
                Datum::String(format!("PostgreSQL 15.0 (Riffle {})", env!("CARGO_PKG_VERSION"))),
                T::String,
            )),
            ("current_database", 0) => Ok(Typed::lit(Datum::String("riffle".into()), T::String)),
            // `SELECT current_user` reaches here as a call without arguments.
            ("current_user" | "session_user" | "user" | "current_role", 0) => Ok(self.plan_niladic(name)?.expect("a niladic function")),
            ("current_schema", 0) => Ok(Typed::lit(Datum::String("public".into()), T::String)),
            ("array_length", 2) => {
                let mut it = planned.into_iter();
                let arr = it.next().expect("two arguments");
                let dim = int_arg(it.next().expect("two arguments"))?;
                call(Func::ArrayLength, vec![arr, dim], T::Int32)
            }
            ("cardinality", 1) => call(Func::Cardinality, planned, T::Int32),
            ("jsonb_build_object" | "json_build_object", _) => {
                let args = planned
                    .into_iter()
                    .map(|p| self.unknown_as_text(p))
                    .collect::<Result<Vec<_>, _>>()?;
                call(Func::JsonbBuildObject, args, T::Jsonb)
            }
            ("jsonb_build_array" | "json_build_array", _) => {
                let args = planned
                    .into_iter()
                    .map(|p| self.unknown_as_text(p))
                    .collect::<Result<Vec<_>, _>>()?;
                call(Func::JsonbBuildArray, args, T::Jsonb)
            }
            ("to_jsonb" | "to_json", 1) => {
                let p = planned.into_iter().next().expect("one argument");
                let p = if p.typ == T::Unknown { self.cast(p, &T::String, false)? } else { p };
                call(Func::ToJsonb, vec![p], T::Jsonb)
            }
            ("jsonb_typeof", 1) => call(
                Func::JsonbTypeof,
                vec![self.cast(planned.into_iter().next().expect("one"), &T::Jsonb, false)?],
                T::String,
            ),
            ("jsonb_array_length", 1) => call(
                Func::JsonbArrayLength,
                vec![self.cast(planned.into_iter().next().expect("one"), &T::Jsonb, false)?],
                T::Int32,
            ),
            ("regexp_match", 2 | 3) => call(Func::RegexpMatch, texts(planned)?, T::Array(Box::new(T::String))),
            ("array_to_string", 2) => {
                let mut it = planned.into_iter();
                let arr = it.next().expect("two arguments");
                let sep = text_arg(it.next().expect("two arguments"))?;
                call(Func::ArrayToString, vec![arr, sep], T::String)
            }
            ("pg_get_userbyid", 1) => Ok(Typed::lit(Datum::String("riffle".into()), T::String)),
            ("pg_table_is_visible", 1) => Ok(Typed::lit(Datum::Bool(true), T::Bool)),
            ("pg_typeof", 1) => Ok(Typed::lit(Datum::String(planned[0].typ.name().into()), T::String)),
            (
                "lower" | "upper" | "length" | "substr" | "substring" | "replace" | "position" | "strpos" | "left" | "right" | "lpad"
                | "rpad" | "split_part" | "abs" | "round" | "trunc" | "coalesce" | "nullif" | "date_trunc" | "date_part" | "now",
                _,
            ) => Err(arity_err()),
            _ => {
                let types: Vec<String> = planned.iter().map(|p| p.typ.to_string()).collect();
                Err(PlanError::UnknownFunction(format!(
                    "function {name}({}) does not exist",
                    types.join(", ")
                )))
            }
        }
    }

    fn numeric_arg(&self, t: Typed, name: &str) -> Result<Typed, PlanError> {
        if t.typ == ScalarType::Unknown {
            return self.cast(t, &ScalarType::Float64, false);
        }
        if !t.typ.is_numeric() {
            return Err(PlanError::UnknownFunction(format!("function {name}({}) does not exist", t.typ)));
        }
        Ok(t)
    }
}
