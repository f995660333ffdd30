//! Spark's type rules, as DataFusion analyzer rules (Spark's `TypeCoercion` and `ANSI` rules).
//!
//! Before DataFusion's type coercion, while expressions are as written:
//! - [`SparkDistributeBy`]: `DISTRIBUTE BY` is a hash shuffle;
//! - [`SparkLiterals`]: an integer literal is an `int` when it fits, as in Spark (DataFusion
//!   reads every one as `bigint`);
//! - [`SparkOperandTypes`]: decimal division, `div`, text operands;
//! - `SparkWiderTypes` (in [`crate::wider_types`]): a decimal meeting a float is a `double`;
//! - [`SparkFunctionArguments`]: DataFusion namesakes that mean something else for some
//!   arguments.
//!
//! After it:
//! - [`SparkTimeType`]: Spark's TIME type refused unless `spark.sql.timeType.enabled`;
//! - [`SparkArithmeticRule`]: `/` on non-decimals is a double division, and `div`, `%` and
//!   integer `+ - *` are Spark's operators, which follow `spark.sql.ansi.enabled`
//!   (DataFusion's `enable_ansi_mode`) for zero divisors and overflow;
//! - [`SparkCastRule`]: Spark's `CAST` and `try_cast` where they differ;
//! - [`SparkSessionZone`]: the session time zone written into the plan where a function
//!   needs it (see [`crate::functions::timezone`]);
//! - `SparkTimeWindows` (in [`crate::time_window`]): rows without a time are filtered out
//!   under a node computing a time window;
//! - `SparkPartitionValues` (in [`crate::partition_values`]): `spark_partition_id()`,
//!   `monotonically_increasing_id()` and the seeded random functions become columns of a
//!   node that knows its partition.

use std::sync::Arc;

use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{DFSchema, Result, ScalarValue};
use datafusion::logical_expr::expr_rewriter::NamePreserver;
use datafusion::logical_expr::{
    BinaryExpr, Cast, Expr, ExprSchemable, LogicalPlan, Operator, TryCast,
};
use datafusion::optimizer::AnalyzerRule;

use crate::functions::arithmetic::{ArithmeticOp, arithmetic, decimal_divide, decimal_divide_type};
use crate::functions::cast::{CastMode, differs, spark_cast};

/// Analyzer rules, in the order they run.
pub type AnalyzerRules = Vec<Arc<dyn AnalyzerRule + Send + Sync>>;

/// The analyzer rules of a Spark session: `(before type coercion, after it)`.
pub fn spark_analyzer_rules() -> (AnalyzerRules, AnalyzerRules) {
    (
        vec![
            Arc::new(SparkDistributeBy),
            Arc::new(SparkLiterals),
            Arc::new(SparkOperandTypes),
            Arc::new(crate::wider_types::SparkWiderTypes),
            Arc::new(SparkFunctionArguments),
            Arc::new(SparkScalarSubqueries),
        ],
        vec![
            Arc::new(SparkTimeType),
            Arc::new(SparkArithmeticRule),
            Arc::new(SparkCastRule),
            Arc::new(SparkSessionZone),
            Arc::new(crate::time_window::SparkTimeWindows),
            Arc::new(crate::partition_values::SparkPartitionValues),
        ],
    )
}

datafusion::common::extensions_options! {
    /// Flint's settings of a session that DataFusion has no key for.
    pub struct FlintOptions {
        /// `spark.sql.session.timeZone`, as the analyzer writes it into plans.
        pub session_time_zone: String, default = "UTC".to_string()
        /// `spark.sql.timeType.enabled`: whether TIME functions and casts are allowed.
        pub time_type_enabled: bool, default = false
    }
}

impl datafusion::common::config::ConfigExtension for FlintOptions {
    const PREFIX: &'static str = "flint";
}

/// The session time zone `config` carries (UTC when it carries none).
pub fn session_zone(config: &ConfigOptions) -> String {
    config
        .extensions
        .get::<FlintOptions>()
        .map(|options| options.session_time_zone.clone())
        .unwrap_or_else(|| "UTC".to_string())
}

/// Writes the session time zone into the plan in place of `flint_session_zone()`, so a task
/// converts with the zone of the session that planned it.
#[derive(Debug)]
pub struct SparkSessionZone;

impl AnalyzerRule for SparkSessionZone {
    fn analyze(&self, plan: LogicalPlan, config: &ConfigOptions) -> Result<LogicalPlan> {
        let zone = session_zone(config);
        rewrite_plan(plan, &|expr, _| match expr {
            Expr::ScalarFunction(function)
                if function.func.name() == crate::functions::timezone::SESSION_ZONE_FUNCTION =>
            {
                Ok(Transformed::yes(Expr::Literal(
                    ScalarValue::Utf8(Some(zone.clone())),
                    None,
                )))
            }
            other => Ok(Transformed::no(other)),
        })
    }

    fn name(&self) -> &str {
        "spark_session_zone"
    }
}

/// Spark's gate on its TIME type: while `spark.sql.timeType.enabled` is off (Spark's default
/// outside its own test runs), a TIME function, a cast to TIME and `hour`/`minute`/`second` of
/// a TIME are `UNSUPPORTED_TIME_TYPE`, as in Spark; a TIME literal still answers.
#[derive(Debug)]
pub struct SparkTimeType;

impl AnalyzerRule for SparkTimeType {
    fn analyze(&self, plan: LogicalPlan, config: &ConfigOptions) -> Result<LogicalPlan> {
        use datafusion::common::tree_node::TreeNodeRecursion;
        if config
            .extensions
            .get::<FlintOptions>()
            .is_some_and(|options| options.time_type_enabled)
        {
            return Ok(plan);
        }
        let is_time = |t: &datafusion::arrow::datatypes::DataType| {
            matches!(
                t,
                datafusion::arrow::datatypes::DataType::Time32(_)
                    | datafusion::arrow::datatypes::DataType::Time64(_)
            )
        };
        plan.apply_with_subqueries(|node| {
            let mut schema = DFSchema::empty();
            for input in node.inputs() {
                schema.merge(input.schema());
            }
            node.apply_expressions(|expr| {
                expr.apply(|e| {
                    let refused = match e {
                        // `TIME '10:00'` is planned as a cast of its text.
                        Expr::Cast(Cast { field, expr })
                        | Expr::TryCast(TryCast { field, expr }) => {
                            is_time(field.data_type()) && !matches!(**expr, Expr::Literal(..))
                        }
                        Expr::ScalarFunction(function) => {
                            let name = function.func.name();
                            crate::functions::time::TIME_FUNCTIONS.contains(&name)
                                || (matches!(name, "hour" | "minute" | "second")
                                    && function.args.first().is_some_and(|arg| {
                                        arg.get_type(&schema).is_ok_and(|t| is_time(&t))
                                    }))
                        }
                        _ => false,
                    };
                    if refused {
                        return datafusion::common::plan_err!(
                            "[UNSUPPORTED_TIME_TYPE] The data type TIME is not supported. \
                             SQLSTATE: 0A000"
                        );
                    }
                    Ok(TreeNodeRecursion::Continue)
                })
            })
        })?;
        Ok(plan)
    }

    fn name(&self) -> &str {
        "spark_time_type"
    }
}

/// Rewrites every expression of every node of `plan` (and of its subqueries) with `f`,
/// keeping each output column's name.
pub(crate) fn rewrite_plan(
    plan: LogicalPlan,
    f: &dyn Fn(Expr, &DFSchema) -> Result<Transformed<Expr>>,
) -> Result<LogicalPlan> {
    rewrite_plan_with(plan, true, f)
}

/// [`rewrite_plan`], leaving alone expressions with a lambda when `into_lambdas` is false (a
/// lambda's parameter types were fixed when it was planned).
fn rewrite_plan_with(
    plan: LogicalPlan,
    into_lambdas: bool,
    f: &dyn Fn(Expr, &DFSchema) -> Result<Transformed<Expr>>,
) -> Result<LogicalPlan> {
    plan.transform_up_with_subqueries(|node| {
        // A LIMIT's values stay `bigint`, and VALUES rows fix their own schema.
        if matches!(node, LogicalPlan::Limit(_) | LogicalPlan::Values(_)) {
            return Ok(Transformed::no(node));
        }
        // Expressions may name columns of any input (a join's condition names both).
        let schema = match node.inputs().as_slice() {
            [] => Arc::new(DFSchema::empty()),
            [input] => Arc::clone(input.schema()),
            inputs => {
                let mut merged = DFSchema::empty();
                for input in inputs {
                    merged.merge(input.schema());
                }
                Arc::new(merged)
            }
        };
        let names = NamePreserver::new(&node);
        let rewritten = node.map_expressions(|expr| {
            if !into_lambdas && expr.exists(|e| Ok(matches!(e, Expr::HigherOrderFunction(_))))? {
                return Ok(Transformed::no(expr));
            }
            let saved = names.save(&expr);
            let result = expr.transform_up(|e| f(e, &schema))?;
            Ok(result.update_data(|e| saved.restore(e)))
        })?;
        // A child's types may have changed even when this node's expressions did not.
        rewritten.map_data(|plan| plan.recompute_schema())
    })
    .map(|t| t.data)
}

/// Integer literals that fit an `int` are `int`s (Spark's literal typing); an explicit
/// `CAST(... AS BIGINT)` (how `1L` arrives) keeps its `bigint`.
#[derive(Debug)]
pub struct SparkLiterals;

impl AnalyzerRule for SparkLiterals {
    fn analyze(&self, plan: LogicalPlan, _config: &ConfigOptions) -> Result<LogicalPlan> {
        rewrite_plan_with(plan, false, &|expr, _schema| {
            Ok(match expr {
                Expr::BinaryExpr(BinaryExpr { left, op, right }) => {
                    Transformed::no(Expr::BinaryExpr(BinaryExpr {
                        left: Box::new(narrow(*left)),
                        op,
                        right: Box::new(narrow(*right)),
                    }))
                }
                Expr::ScalarFunction(mut function) => {
                    function.args = function.args.into_iter().map(narrow).collect();
                    Transformed::no(Expr::ScalarFunction(function))
                }
                // A literal selected as it is (`SELECT 1 AS x`) is an `int` column.
                Expr::Alias(mut alias) => {
                    alias.expr = Box::new(narrow(*alias.expr));
                    Transformed::no(Expr::Alias(alias))
                }
                other => Transformed::no(other),
            })
        })
    }

    fn name(&self) -> &str {
        "spark_literals"
    }
}

/// An `Int64` literal that fits an `int`, as an `Int32`.
fn narrow(expr: Expr) -> Expr {
    match expr {
        Expr::Literal(ScalarValue::Int64(Some(v)), metadata) if i32::try_from(v).is_ok() => {
            Expr::Literal(ScalarValue::Int32(Some(v as i32)), metadata)
        }
        other => other,
    }
}

/// Spark's `/`, `div`, `%` and integer `+ - *` in place of DataFusion's operators.
#[derive(Debug)]
pub struct SparkArithmeticRule;

impl AnalyzerRule for SparkArithmeticRule {
    fn analyze(&self, plan: LogicalPlan, config: &ConfigOptions) -> Result<LogicalPlan> {
        let ansi = config.execution.enable_ansi_mode;
        rewrite_plan(plan, &|expr, schema| {
            // The SQL planner leaves the mode of `div` to the session: a NULL flag.
            if let Expr::ScalarFunction(mut function) = expr {
                let unresolved = function.func.name().starts_with("spark_")
                    && matches!(
                        function.args.last(),
                        Some(Expr::Literal(ScalarValue::Boolean(None), _))
                    );
                if unresolved && let Some(flag) = function.args.last_mut() {
                    *flag = Expr::Literal(ScalarValue::Boolean(Some(ansi)), None);
                    return Ok(Transformed::yes(Expr::ScalarFunction(function)));
                }
                return Ok(Transformed::no(Expr::ScalarFunction(function)));
            }
            let Expr::BinaryExpr(BinaryExpr { left, op, right }) = expr else {
                return Ok(Transformed::no(expr));
            };
            let types = (left.get_type(schema), right.get_type(schema));
            let (Ok(left_type), Ok(right_type)) = types else {
                return Ok(Transformed::no(Expr::BinaryExpr(BinaryExpr {
                    left,
                    op,
                    right,
                })));
            };
            let integers = is_integer(&left_type) && is_integer(&right_type);
            let decimal = left_type.is_decimal() || right_type.is_decimal();
            let numeric =
                |t: &datafusion::arrow::datatypes::DataType| t.is_numeric() || t.is_null();
            let spark_op = match op {
                Operator::Plus if integers => Some(ArithmeticOp::Add),
                Operator::Minus if integers => Some(ArithmeticOp::Subtract),
                Operator::Multiply if integers => Some(ArithmeticOp::Multiply),
                Operator::Divide if !decimal && numeric(&left_type) && numeric(&right_type) => {
                    Some(ArithmeticOp::Divide)
                }
                Operator::IntegerDivide if !decimal => Some(ArithmeticOp::IntegralDivide),
                Operator::Modulo if !decimal && numeric(&left_type) && numeric(&right_type) => {
                    Some(ArithmeticOp::Remainder)
                }
                _ => None,
            };
            Ok(match spark_op {
                Some(spark_op) => Transformed::yes(arithmetic(spark_op, *left, *right, ansi)),
                None => Transformed::no(Expr::BinaryExpr(BinaryExpr { left, op, right })),
            })
        })
    }

    fn name(&self) -> &str {
        "spark_arithmetic"
    }
}

fn is_integer(data_type: &datafusion::arrow::datatypes::DataType) -> bool {
    data_type.is_integer() || data_type.is_null()
}

/// Spark's `CAST` and `try_cast` where they differ from DataFusion's (also for the casts type
/// coercion added): see [`crate::functions::cast`].
#[derive(Debug)]
pub struct SparkCastRule;

impl AnalyzerRule for SparkCastRule {
    fn analyze(&self, plan: LogicalPlan, config: &ConfigOptions) -> Result<LogicalPlan> {
        let mode = if config.execution.enable_ansi_mode {
            CastMode::Ansi
        } else {
            CastMode::Legacy
        };
        let zone = session_zone(config);
        rewrite_plan(plan, &|expr, schema| {
            let (value, to, mode) = match expr {
                Expr::Cast(Cast { expr, field }) => (expr, field, mode),
                Expr::TryCast(TryCast { expr, field }) => (expr, field, CastMode::Try),
                other => return Ok(Transformed::no(other)),
            };
            let from = value.get_type(schema);
            if let Ok(from) = &from
                && let Some(epoch) = epoch_cast(&value, from, to.data_type(), &zone)
            {
                return Ok(Transformed::yes(epoch));
            }
            if let Ok(from) = from
                && differs(&from, to.data_type())
            {
                Ok(Transformed::yes(spark_cast(*value, to.data_type(), mode)?))
            } else if mode == CastMode::Try {
                Ok(Transformed::no(Expr::TryCast(TryCast {
                    expr: value,
                    field: to,
                })))
            } else {
                Ok(Transformed::no(Expr::Cast(Cast {
                    expr: value,
                    field: to,
                })))
            }
        })
    }

    fn name(&self) -> &str {
        "spark_cast"
    }
}

/// Spark's casts between timestamps and numbers, which count seconds since the epoch: the
/// session time zone turns the wall-clock time into the instant and back.
fn epoch_cast(
    value: &Expr,
    from: &datafusion::arrow::datatypes::DataType,
    to: &datafusion::arrow::datatypes::DataType,
    zone: &str,
) -> Option<Expr> {
    use crate::functions::timezone::{epoch_expr, timestamp_expr};
    use datafusion::arrow::datatypes::DataType;
    let number = |t: &DataType| t.is_integer() || t.is_floating() || t.is_decimal();
    match (from, to) {
        (DataType::Timestamp(_, None), to) if to.is_integer() => Some(Expr::Cast(Cast::new(
            Box::new(epoch_expr(value.clone(), 1, zone)),
            to.clone(),
        ))),
        (DataType::Timestamp(_, None), to) if number(to) => {
            let micros = epoch_expr(value.clone(), 1_000_000, zone);
            let seconds = Expr::BinaryExpr(BinaryExpr::new(
                Box::new(Expr::Cast(Cast::new(Box::new(micros), DataType::Float64))),
                Operator::Divide,
                Box::new(Expr::Literal(ScalarValue::Float64(Some(1e6)), None)),
            ));
            Some(Expr::Cast(Cast::new(Box::new(seconds), to.clone())))
        }
        (from, DataType::Timestamp(_, None)) if number(from) => {
            Some(timestamp_expr(value.clone(), 1, zone))
        }
        _ => None,
    }
}

/// Spark's operand rules, applied before type coercion while the operands are as written:
/// - decimal division: an integer operand counts as `decimal(10,0)` (`bigint`: 20 digits, a
///   literal: its own digits) and the result type follows Spark's `DecimalPrecision`;
/// - `div` casts both sides to `bigint`;
/// - text in arithmetic is read as a `bigint` beside an integer and as a `double` beside
///   another number, text compared with a number, boolean, date or timestamp is read as that
///   type (Spark's ANSI coercion; unreadable text is `CAST_INVALID_INPUT`).
#[derive(Debug)]
pub struct SparkOperandTypes;

/// The decimal shape Spark gives a division operand, if it is a decimal or an integer.
fn decimal_operand(expr: &Expr, schema: &DFSchema) -> Option<(u8, i8)> {
    use datafusion::arrow::datatypes::DataType;
    if let Expr::Literal(value, _) = expr {
        let digits = |v: i128| v.unsigned_abs().to_string().len() as u8;
        match value {
            ScalarValue::Int32(Some(v)) => return Some((digits(i128::from(*v)), 0)),
            ScalarValue::Int64(Some(v)) => return Some((digits(i128::from(*v)), 0)),
            _ => {}
        }
    }
    match expr.get_type(schema).ok()? {
        DataType::Decimal128(p, s) => Some((p, s)),
        DataType::Int8 => Some((3, 0)),
        DataType::Int16 => Some((5, 0)),
        DataType::Int32 => Some((10, 0)),
        DataType::Int64 => Some((20, 0)),
        _ => None,
    }
}

/// The type Spark reads a text operand as beside an operand of type `other`: a `bigint`
/// beside an integer and a `double` beside another number in arithmetic; the other operand's
/// type in a comparison with a number, boolean, date or timestamp.
pub(crate) fn text_operand_type(
    arithmetic: bool,
    comparison: bool,
    other: &datafusion::arrow::datatypes::DataType,
) -> Option<datafusion::arrow::datatypes::DataType> {
    use datafusion::arrow::datatypes::DataType;
    if arithmetic && other.is_integer() {
        Some(DataType::Int64)
    } else if arithmetic && other.is_numeric() {
        Some(DataType::Float64)
    } else if comparison
        && (other.is_numeric()
            || matches!(
                other,
                DataType::Boolean | DataType::Date32 | DataType::Timestamp(..)
            ))
    {
        Some(other.clone())
    } else {
        None
    }
}

pub(crate) fn is_text(t: &datafusion::arrow::datatypes::DataType) -> bool {
    use datafusion::arrow::datatypes::DataType;
    matches!(t, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View)
}

fn cast_to(expr: Expr, data_type: datafusion::arrow::datatypes::DataType) -> Expr {
    Expr::Cast(Cast::new(Box::new(expr), data_type))
}

impl AnalyzerRule for SparkOperandTypes {
    fn analyze(&self, plan: LogicalPlan, config: &ConfigOptions) -> Result<LogicalPlan> {
        use datafusion::arrow::datatypes::DataType;
        let ansi = config.execution.enable_ansi_mode;
        rewrite_plan(plan, &|expr, schema| {
            let Expr::BinaryExpr(BinaryExpr { left, op, right }) = expr else {
                return Ok(Transformed::no(expr));
            };
            let unchanged = |left, op, right| {
                Ok(Transformed::no(Expr::BinaryExpr(BinaryExpr {
                    left,
                    op,
                    right,
                })))
            };
            let (Ok(left_type), Ok(right_type)) = (left.get_type(schema), right.get_type(schema))
            else {
                return unchanged(left, op, right);
            };
            let is_arithmetic = matches!(
                op,
                Operator::Plus
                    | Operator::Minus
                    | Operator::Multiply
                    | Operator::Divide
                    | Operator::Modulo
                    | Operator::IntegerDivide
            );
            let comparison = matches!(
                op,
                Operator::Eq
                    | Operator::NotEq
                    | Operator::Lt
                    | Operator::LtEq
                    | Operator::Gt
                    | Operator::GtEq
                    | Operator::IsDistinctFrom
                    | Operator::IsNotDistinctFrom
            );
            let read_as = |other: &DataType| text_operand_type(is_arithmetic, comparison, other);
            if is_text(&left_type)
                && !is_text(&right_type)
                && let Some(to) = read_as(&right_type)
            {
                let left = Box::new(cast_to(*left, to));
                return Ok(Transformed::yes(Expr::BinaryExpr(BinaryExpr {
                    left,
                    op,
                    right,
                })));
            }
            if is_text(&right_type)
                && !is_text(&left_type)
                && let Some(to) = read_as(&left_type)
            {
                let right = Box::new(cast_to(*right, to));
                return Ok(Transformed::yes(Expr::BinaryExpr(BinaryExpr {
                    left,
                    op,
                    right,
                })));
            }
            if op == Operator::IntegerDivide && !left_type.is_decimal() && !right_type.is_decimal()
            {
                return Ok(Transformed::yes(arithmetic(
                    ArithmeticOp::IntegralDivide,
                    *left,
                    *right,
                    ansi,
                )));
            }
            if op != Operator::Divide || !(left_type.is_decimal() || right_type.is_decimal()) {
                return unchanged(left, op, right);
            }
            match (
                decimal_operand(&left, schema),
                decimal_operand(&right, schema),
            ) {
                (Some(l), Some(r)) => {
                    let result = decimal_divide_type(l, r);
                    Ok(Transformed::yes(decimal_divide(
                        *left, *right, &result, ansi,
                    )?))
                }
                _ => unchanged(left, op, right),
            }
        })
    }

    fn name(&self) -> &str {
        "spark_operand_types"
    }
}

/// Spark functions whose DataFusion namesake means something else for some arguments,
/// planned as the DataFusion function that does what Spark's does:
/// `concat` of arrays is `array_concat`, `reverse` of an array is `array_reverse`,
/// `array_remove` removes every match, `array_sort` puts NULLs last, `regexp_replace`
/// replaces every match, `array_position` answers 0 for an element not found.
#[derive(Debug)]
pub struct SparkFunctionArguments;

impl AnalyzerRule for SparkFunctionArguments {
    fn analyze(&self, plan: LogicalPlan, _config: &ConfigOptions) -> Result<LogicalPlan> {
        use datafusion::arrow::datatypes::DataType;
        use datafusion::logical_expr::expr::ScalarFunction;
        use datafusion::logical_expr::lit;
        rewrite_plan(plan, &|expr, schema| {
            // Spark casts numbers, booleans and datetimes to text where LIKE wants text
            // (`123 LIKE '1%'`; functions do it in `functions::arguments`).
            if let Expr::Like(mut like) = expr {
                let mut changed = false;
                // DataFusion's LIKE escapes with the backslash only: another escape character
                // is written into the pattern as backslashes.
                if let Some(escape) = like.escape_char.filter(|c| *c != '\\') {
                    let pattern = std::mem::replace(like.pattern.as_mut(), lit(0));
                    *like.pattern = match pattern {
                        Expr::Literal(ScalarValue::Utf8(Some(text)), _) => {
                            lit(crate::functions::text::backslash_pattern(&text, escape)?)
                        }
                        pattern => Expr::ScalarFunction(ScalarFunction::new_udf(
                            crate::functions::text::like_pattern_udf(),
                            vec![pattern, lit(escape.to_string())],
                        )),
                    };
                    like.escape_char = None;
                    changed = true;
                }
                for side in [&mut like.expr, &mut like.pattern] {
                    if wants_text_cast(side, schema) {
                        **side = cast_to(std::mem::replace(side, lit(0)), DataType::Utf8);
                        changed = true;
                    }
                }
                // Patterns like '%special%requests%' are matched part by part, not as the
                // regular expression Arrow would build.
                if let Expr::Literal(ScalarValue::Utf8(Some(pattern)), _) = like.pattern.as_ref()
                    && !like.case_insensitive
                    && matches!(like.escape_char, None | Some('\\'))
                    && let Some(matched) =
                        crate::functions::like::segmented_like((*like.expr).clone(), pattern)
                {
                    return Ok(Transformed::yes(if like.negated {
                        Expr::Not(Box::new(matched))
                    } else {
                        matched
                    }));
                }
                return Ok(if changed {
                    Transformed::yes(Expr::Like(like))
                } else {
                    Transformed::no(Expr::Like(like))
                });
            }
            if let Expr::AggregateFunction(aggregate) = expr {
                return spark_aggregate_arguments(aggregate, schema);
            }
            let Expr::ScalarFunction(mut function) = expr else {
                return Ok(Transformed::no(expr));
            };
            // A star among the arguments (`hash(*)`, `xxhash64(t.*)`) stands for every input
            // column (of that table), as Spark expands it.
            #[allow(deprecated)]
            if function
                .args
                .iter()
                .any(|a| matches!(a, Expr::Wildcard { .. }))
            {
                let mut args = Vec::with_capacity(function.args.len());
                for arg in std::mem::take(&mut function.args) {
                    match arg {
                        Expr::Wildcard { qualifier, .. } => args.extend(
                            schema
                                .iter()
                                .filter(|(q, _)| qualifier.is_none() || *q == qualifier.as_ref())
                                .map(|(q, field)| {
                                    Expr::Column(datafusion::common::Column::new(
                                        q.cloned(),
                                        field.name(),
                                    ))
                                }),
                        ),
                        other => args.push(other),
                    }
                }
                function.args = args;
                return Ok(Transformed::yes(Expr::ScalarFunction(function)));
            }
            let is_list = |e: &Expr| {
                matches!(
                    e.get_type(schema),
                    Ok(DataType::List(_) | DataType::LargeList(_) | DataType::FixedSizeList(..))
                )
            };
            let args = &function.args;
            let call = |udf, args| {
                Ok(Transformed::yes(Expr::ScalarFunction(
                    ScalarFunction::new_udf(udf, args),
                )))
            };
            match function.func.name() {
                // Spark's concat of arrays is NULL when any array is (DataFusion skips it).
                "concat" if !args.is_empty() && args.iter().all(is_list) => {
                    let concat = Expr::ScalarFunction(ScalarFunction::new_udf(
                        datafusion::functions_nested::concat::array_concat_udf(),
                        args.clone(),
                    ));
                    let any_null = args
                        .iter()
                        .map(|a| a.clone().is_null())
                        .reduce(Expr::or)
                        .unwrap_or_else(|| lit(false));
                    let null = ScalarValue::try_from(concat.get_type(schema)?)?;
                    Ok(Transformed::yes(
                        datafusion::logical_expr::when(any_null, lit(null)).otherwise(concat)?,
                    ))
                }
                "reverse" if args.len() == 1 && is_list(&args[0]) => call(
                    datafusion::functions_nested::reverse::array_reverse_udf(),
                    args.clone(),
                ),
                name if crate::functions::arguments::BINARY_MATCHES.contains(&name)
                    && args.len() == 2
                    && args
                        .iter()
                        .all(|a| matches!(a.get_type(schema), Ok(DataType::Binary))) =>
                {
                    let mut with_kind = vec![lit(name)];
                    with_kind.extend(args.iter().cloned());
                    call(crate::functions::text::binary_match_udf(), with_kind)
                }
                // Spark reverses the bytes of a binary (DataFusion reads them as text).
                "reverse"
                    if args.len() == 1
                        && matches!(
                            args[0].get_type(schema),
                            Ok(DataType::Binary | DataType::LargeBinary | DataType::BinaryView)
                        ) =>
                {
                    call(crate::functions::text::reverse_binary_udf(), args.clone())
                }
                "array_remove" if args.len() == 2 => call(
                    datafusion::functions_nested::remove::array_remove_all_udf(),
                    args.clone(),
                ),
                "array_sort" if args.len() == 1 => call(
                    datafusion::functions_nested::sort::array_sort_udf(),
                    vec![args[0].clone(), lit("ASC"), lit("NULLS LAST")],
                ),
                // Spark answers 0 for an element not found (DataFusion: NULL), NULL for a
                // NULL array.
                "array_position" if args.len() == 2 => {
                    use datafusion::logical_expr::when;
                    let array = args[0].clone();
                    // The 3-argument form (from index 1) is the same and is not rewritten
                    // again when the analyzer runs a second time.
                    let mut with_start = args.clone();
                    with_start.push(lit(1i64));
                    let position = Expr::ScalarFunction(ScalarFunction::new_udf(
                        Arc::clone(&function.func),
                        with_start,
                    ));
                    let found = datafusion::functions::core::expr_fn::coalesce(vec![
                        cast_to(position, DataType::Int64),
                        lit(0i64),
                    ]);
                    Ok(Transformed::yes(
                        when(array.is_null(), lit(ScalarValue::Int64(None))).otherwise(found)?,
                    ))
                }
                // Spark's logarithms are NULL where the logarithm is not a real number
                // (DataFusion: -Infinity or NaN), and its `log(x)` is the natural one.
                "ln" | "log2" | "log10" if args.len() == 1 => {
                    call(Arc::clone(&function.func), vec![above(args[0].clone(), 0)])
                }
                "log" if args.len() == 1 => {
                    call(Arc::clone(&function.func), vec![above(args[0].clone(), 0)])
                }
                "log" if args.len() == 2 => call(
                    Arc::clone(&function.func),
                    vec![above(args[0].clone(), 0), above(args[1].clone(), 0)],
                ),
                // Spark's square root of a negative number is NaN (DataFusion: an error).
                "sqrt" if args.len() == 1 => call(
                    Arc::clone(&function.func),
                    vec![negative_as_nan(args[0].clone())],
                ),
                "log1p" if args.len() == 1 => {
                    call(Arc::clone(&function.func), vec![above(args[0].clone(), -1)])
                }
                "regexp_replace" if args.len() == 3 => {
                    let mut args = args.clone();
                    args.push(lit("g"));
                    call(datafusion::functions::regex::regexp_replace(), args)
                }
                _ => Ok(Transformed::no(Expr::ScalarFunction(function))),
            }
        })
    }

    fn name(&self) -> &str {
        "spark_function_arguments"
    }
}

/// Aggregates of numbers whose untyped NULL argument (`VALUES (1, NULL)`'s column) Spark
/// casts to `double`, as its implicit casts do for a `void` input; DataFusion fails on it.
const NUMERIC_AGGREGATES: &[&str] = &[
    "avg",
    "mean",
    "sum",
    "try_avg",
    "try_sum",
    "median",
    "percentile",
    "percentile_cont",
    "percentile_approx",
    "approx_percentile",
    "stddev",
    "stddev_samp",
    "stddev_pop",
    "variance",
    "var_samp",
    "var_pop",
    "skewness",
    "kurtosis",
];

/// Spark's aggregate call forms DataFusion has no form for: `count(DISTINCT a, b)` counts the
/// distinct tuples without a NULL (one struct argument, NULL unless all are set); an untyped
/// NULL given to an aggregate of numbers is a `double`.
fn spark_aggregate_arguments(
    mut aggregate: datafusion::logical_expr::expr::AggregateFunction,
    schema: &DFSchema,
) -> Result<Transformed<Expr>> {
    use datafusion::arrow::datatypes::DataType;
    use datafusion::logical_expr::{ExprSchemable, and, lit, when};
    let name = aggregate.func.name().to_ascii_lowercase();
    let args = &mut aggregate.params.args;
    match name.as_str() {
        _ if NUMERIC_AGGREGATES.contains(&name.as_str())
            && args
                .first()
                .is_some_and(|a| a.get_type(schema).is_ok_and(|t| t == DataType::Null)) =>
        {
            let first = std::mem::replace(&mut args[0], lit(0));
            args[0] = cast_to(first, DataType::Float64);
            Ok(Transformed::yes(Expr::AggregateFunction(aggregate)))
        }
        "count" if aggregate.params.distinct && args.len() > 1 => {
            let all_set = args
                .iter()
                .map(|a| a.clone().is_not_null())
                .reduce(and)
                .unwrap_or_else(|| lit(true));
            let tuple = datafusion::functions::core::expr_fn::r#struct(std::mem::take(args));
            *args = vec![when(all_set, tuple).end()?];
            Ok(Transformed::yes(Expr::AggregateFunction(aggregate)))
        }
        _ => Ok(Transformed::no(Expr::AggregateFunction(aggregate))),
    }
}

/// Whether `expr` is a number, boolean, date or timestamp that Spark would cast to text
/// where text is wanted.
fn wants_text_cast(expr: &Expr, schema: &DFSchema) -> bool {
    expr.get_type(schema)
        .is_ok_and(|data_type| is_atomic_non_text(&data_type))
}

/// Whether values of `data_type` are numbers, booleans, dates or timestamps: what Spark
/// writes as text where a function wants text.
pub(crate) fn is_atomic_non_text(data_type: &datafusion::arrow::datatypes::DataType) -> bool {
    use datafusion::arrow::datatypes::DataType;
    data_type.is_numeric()
        || matches!(
            data_type,
            DataType::Boolean | DataType::Date32 | DataType::Date64 | DataType::Timestamp(..)
        )
}

/// `value` where it is above `bound`, NULL elsewhere: `CASE WHEN value > bound THEN value
/// END`, left as it is when it already is that (the analyzer may run twice).
fn above(value: Expr, bound: i32) -> Expr {
    use datafusion::logical_expr::{BinaryExpr, Operator, lit};
    if let Expr::Case(case) = &value
        && case.else_expr.is_none()
        && let [(when, then)] = case.when_then_expr.as_slice()
        && let Expr::BinaryExpr(BinaryExpr {
            left,
            op: Operator::Gt,
            ..
        }) = when.as_ref()
        && left == then
    {
        return value;
    }
    Expr::Case(datafusion::logical_expr::expr::Case::new(
        None,
        vec![(Box::new(value.clone().gt(lit(bound))), Box::new(value))],
        None,
    ))
}

/// `value` as a double `v`, NaN where it is negative: `CASE WHEN v < 0 THEN NaN ELSE v END`,
/// left as it is when it already is that (the analyzer may run twice).
fn negative_as_nan(value: Expr) -> Expr {
    use datafusion::logical_expr::{BinaryExpr, Operator, lit};
    if let Expr::Case(case) = &value
        && let [(when, _)] = case.when_then_expr.as_slice()
        && let Expr::BinaryExpr(BinaryExpr {
            left,
            op: Operator::Lt,
            ..
        }) = when.as_ref()
        && case.else_expr.as_deref() == Some(left.as_ref())
    {
        return value;
    }
    let value = cast_to(value, datafusion::arrow::datatypes::DataType::Float64);
    Expr::Case(datafusion::logical_expr::expr::Case::new(
        None,
        vec![(
            Box::new(value.clone().lt(lit(0.0))),
            Box::new(lit(f64::NAN)),
        )],
        Some(Box::new(value)),
    ))
}

/// Spark fails a scalar subquery that gives more than one row (`SCALAR_SUBQUERY_TOO_MANY_ROWS`);
/// DataFusion joins it, repeating the outer row once per subquery row. A subquery that may
/// give several rows is made one: its row count and first value, checked by
/// `flint_single_row` (NULL when it gives none, as in Spark). Uncorrelated subqueries only.
#[derive(Debug)]
pub struct SparkScalarSubqueries;

impl AnalyzerRule for SparkScalarSubqueries {
    fn analyze(&self, plan: LogicalPlan, _config: &ConfigOptions) -> Result<LogicalPlan> {
        use datafusion::logical_expr::Subquery;
        plan.transform_up_with_subqueries(|node| {
            node.map_expressions(|expr| {
                expr.transform_up(|expr| match expr {
                    // Correlated subqueries are left as DataFusion decorrelates them.
                    Expr::ScalarSubquery(subquery)
                        if subquery.outer_ref_columns.is_empty()
                            && !at_most_one_row(&subquery.subquery) =>
                    {
                        let single = single_row(subquery.subquery.as_ref().clone())?;
                        Ok(Transformed::yes(Expr::ScalarSubquery(Subquery {
                            subquery: Arc::new(single),
                            ..subquery
                        })))
                    }
                    other => Ok(Transformed::no(other)),
                })
            })
        })
        .map(|t| t.data)
    }

    fn name(&self) -> &str {
        "spark_scalar_subqueries"
    }
}

/// Whether `plan` gives one row at most: a global aggregate or a `LIMIT 1`, under
/// projections, filters and sorts.
fn at_most_one_row(plan: &LogicalPlan) -> bool {
    match plan {
        LogicalPlan::Aggregate(aggregate) => aggregate.group_expr.is_empty(),
        LogicalPlan::Limit(limit) => matches!(
            limit.get_fetch_type(),
            Ok(datafusion::logical_expr::FetchType::Literal(Some(0 | 1)))
        ),
        LogicalPlan::Projection(_)
        | LogicalPlan::Filter(_)
        | LogicalPlan::Sort(_)
        | LogicalPlan::SubqueryAlias(_) => plan
            .inputs()
            .first()
            .is_some_and(|input| at_most_one_row(input)),
        _ => false,
    }
}

/// `plan` (one column) as one row: its row count and first value, checked.
fn single_row(plan: LogicalPlan) -> Result<LogicalPlan> {
    use datafusion::common::Column;
    use datafusion::functions_aggregate::expr_fn::{count, first_value};
    use datafusion::logical_expr::{LogicalPlanBuilder, col, lit};
    let (qualifier, field) = plan.schema().qualified_field(0);
    let value = Expr::Column(Column::from((qualifier, field)));
    let name = field.name().clone();
    LogicalPlanBuilder::from(plan)
        .aggregate(
            Vec::<Expr>::new(),
            vec![
                count(lit(1)).alias("__flint_rows"),
                first_value(value, vec![]).alias("__flint_value"),
            ],
        )?
        .project(vec![
            crate::functions::assertion::single_row_udf()
                .call(vec![col("__flint_rows"), col("__flint_value")])
                .alias(name),
        ])?
        .build()
}

/// `DISTRIBUTE BY x` is a hash shuffle on `x` into `spark.sql.shuffle.partitions` partitions
/// (DataFusion plans the clause but cannot run it).
#[derive(Debug)]
pub struct SparkDistributeBy;

impl AnalyzerRule for SparkDistributeBy {
    fn analyze(&self, plan: LogicalPlan, config: &ConfigOptions) -> Result<LogicalPlan> {
        use datafusion::logical_expr::{Partitioning, Repartition};
        let partitions = config.execution.target_partitions;
        plan.transform_up_with_subqueries(|node| match node {
            LogicalPlan::Repartition(Repartition {
                input,
                partitioning_scheme: Partitioning::DistributeBy(exprs),
            }) => Ok(Transformed::yes(LogicalPlan::Repartition(Repartition {
                input,
                partitioning_scheme: Partitioning::Hash(exprs, partitions),
            }))),
            other => Ok(Transformed::no(other)),
        })
        .map(|t| t.data)
    }

    fn name(&self) -> &str {
        "spark_distribute_by"
    }
}
