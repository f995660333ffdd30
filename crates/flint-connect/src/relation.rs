//! Connect relations as Flint DataFrames (DataFusion logical plans), so every PySpark action
//! runs as a Flint job. Expressions go through [`crate::expression`] and Flint's SQL front end.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, RecordBatch, RecordBatchOptions, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{Column, DFSchema, ScalarValue};
use datafusion::dataframe::DataFrame as DfFrame;
use datafusion::datasource::MemTable;
use datafusion::logical_expr::utils::find_aggregate_exprs;
use datafusion::logical_expr::{Expr, ExprSchemable, LogicalPlanBuilder, Partitioning, SortExpr};
use datafusion::prelude::col;
use futures::future::BoxFuture;
use spark_connect::relation::RelType;
use spark_connect::{Expression, Relation};

use crate::error::{ConnectError, missing};
use crate::expression::{ExpressionWriter, Rendered, quote, sort_flags};
use crate::literal::string_literal;

mod frequent;
mod generator;
mod parse;
mod python;
mod quantile;
mod range;
mod reshape;
mod sampling;
use generator::{GeneratorCall, Item};
use range::is_sort_order;

/// Turns one request's relations into DataFrames of a session.
pub struct Planner<'a> {
    session: &'a flint::SparkSession,
    /// The session's planning state, taken once per request (each SQL expression needs it),
    /// with the request's Python UDFs registered.
    state: std::sync::Mutex<Option<datafusion::execution::SessionState>>,
    /// Python UDFs the request's expressions call.
    python_udfs: crate::udf::PythonUdfs,
    /// The qualifier under which each plan id's columns can be named (joins, aliases).
    qualifiers: HashMap<i64, String>,
    /// Plan ids in the order their relations were planned.
    seen: Vec<i64>,
    next_alias: usize,
    /// The relations subquery expressions refer to by plan id (`WithRelations`).
    subqueries: HashMap<i64, datafusion::logical_expr::LogicalPlan>,
    /// Subquery relations that name columns of an outer query (`col("x").outer()`): they
    /// are planned when an outer relation's expressions are, with the error they gave alone.
    correlated: HashMap<i64, (Relation, ConnectError)>,
    /// The schemas of the queries a correlated subquery being planned sits in, innermost
    /// last: a column its own input lacks is looked up there as an outer reference.
    outer_schemas: Vec<datafusion::common::DFSchemaRef>,
    /// Relations planned in this request by plan id, with the plan ids they saw: a
    /// DataFrame the client's plan holds twice (a self-join, an iteration over the previous
    /// round) is planned once, so a plan of n rounds takes n steps, not 2^n.
    planned: HashMap<i64, (DfFrame, Vec<i64>)>,
}

/// An expression planned against an input, with Spark's column name.
pub struct Planned {
    /// The DataFusion expression, unnamed.
    pub expr: Expr,
    /// How the client wrote it.
    pub rendered: Rendered,
    /// The column metadata an alias gives it (`alias("a", metadata={...})`), Spark's JSON.
    pub metadata: Option<String>,
}

impl Planned {
    /// The expression as a projection item: named as Spark names it.
    pub fn named(self) -> Expr {
        if self.rendered.is_column && !self.rendered.is_alias && self.metadata.is_none() {
            self.expr
        } else {
            aliased(self.expr, &self.rendered.name, self.metadata)
        }
    }
}

/// The column metadata an alias gives, when it gives any.
fn alias_metadata(alias: &spark_connect::expression::Alias) -> Option<String> {
    alias
        .metadata
        .clone()
        .filter(|m| !m.is_empty() && m != "{}")
}

/// `expr` named `name`, with the Spark column metadata (JSON) an alias gave it.
fn aliased(expr: Expr, name: &str, metadata: Option<String>) -> Expr {
    match metadata {
        Some(metadata) => {
            let metadata =
                std::collections::BTreeMap::from([(crate::types::SPARK_METADATA.into(), metadata)]);
            expr.alias_with_metadata(name, Some(metadata.into()))
        }
        None => expr.alias(name),
    }
}

/// `exprs` with a name of their own each: a name already taken (`select("id", "id")`,
/// `select("*", "id")`) is planned as `name#i` and shown as `name` ([`crate::types::SPARK_NAME`]).
fn unique_names(exprs: Vec<Expr>) -> Vec<Expr> {
    let mut seen = std::collections::HashSet::new();
    exprs
        .into_iter()
        .enumerate()
        .map(|(i, expr)| {
            let (qualifier, name) = expr.qualified_name();
            if seen.insert((qualifier, name.clone())) {
                return expr;
            }
            let (inner, mut metadata) = match expr {
                Expr::Alias(alias) => (
                    *alias.expr,
                    alias.metadata.map(|m| m.to_hashmap()).unwrap_or_default(),
                ),
                other => (other, Default::default()),
            };
            metadata.insert(crate::types::SPARK_NAME.to_string(), name.clone());
            let metadata: std::collections::BTreeMap<String, String> =
                metadata.into_iter().collect();
            inner.alias_with_metadata(format!("{name}#{i}"), Some(metadata.into()))
        })
        .collect()
}

/// Whether `error` is a column planning found in no input (a correlated subquery's outer
/// column, until it is planned with its outer query).
fn is_unknown_column(error: &ConnectError) -> bool {
    matches!(error, ConnectError::Flint(flint::FlintError::Analysis(e))
        if flint_sql::identifiers::is_unknown_column(e))
}

fn input<'r>(
    relation: &'r Option<Box<Relation>>,
    what: &str,
) -> Result<&'r Relation, ConnectError> {
    relation.as_deref().ok_or_else(|| missing(what))
}

impl<'a> Planner<'a> {
    /// A planner for one request of `session`.
    pub fn new(session: &'a flint::SparkSession) -> Self {
        Planner {
            session,
            state: std::sync::Mutex::default(),
            python_udfs: crate::udf::PythonUdfs::new(session),
            qualifiers: HashMap::new(),
            seen: Vec::new(),
            next_alias: 0,
            subqueries: HashMap::new(),
            correlated: HashMap::new(),
            outer_schemas: Vec::new(),
            planned: HashMap::new(),
        }
    }

    /// The session the plans belong to.
    pub fn session(&self) -> flint::SparkSession {
        self.session.clone()
    }

    fn ctx(&self) -> &datafusion::prelude::SessionContext {
        self.session.session_context()
    }

    /// A Flint DataFrame of `relation`, named `origin` in job descriptions.
    pub async fn dataframe(
        &mut self,
        relation: &Relation,
        origin: &str,
    ) -> Result<flint::DataFrame, ConnectError> {
        let df = self.relation(relation).await?;
        // Analyzed at once, as Flint's SQL does, so the schema (also of an empty result) has
        // Spark's types; the analyzer runs again, unchanged, when the plan is optimized.
        let (state, plan) = df.into_parts();
        let plan = state
            .analyzer()
            .execute_and_check(plan, state.config_options(), |_, _| {})?;
        let df = DfFrame::new(state, plan);
        Ok(flint::DataFrame::from_datafusion(self.session, df, origin))
    }

    /// Plans one SQL expression text against `schema`.
    pub fn sql_expr(&self, schema: &DFSchema, sql: &str) -> Result<Expr, ConnectError> {
        let parsed = flint_sql::parser::parse_expression(sql)
            .map_err(|e| ConnectError::Parse(e.to_string()))?;
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let state = state.get_or_insert_with(|| self.ctx().state());
        self.python_udfs.register_pending(state)?;
        if !self.subqueries.is_empty()
            && !state
                .scalar_functions()
                .contains_key(crate::subquery::PLACEHOLDER)
        {
            datafusion::execution::FunctionRegistry::register_udf(
                state,
                crate::subquery::placeholder_udf(),
            )?;
        }
        let planned = match state.create_logical_expr_from_sql_expr(parsed.clone(), schema) {
            // In a correlated subquery, a column of an outer query.
            Err(error)
                if flint_sql::identifiers::is_unknown_column(&error)
                    && let Some(expr) = self.outer_reference(state, &parsed, schema) =>
            {
                expr
            }
            // Spark finds `name` in a column `Name`: plan again with names matched ignoring case.
            Err(error) if flint_sql::identifiers::is_unknown_column(&error) => {
                let mut names = flint_sql::identifiers::ColumnNames::of_schema(schema);
                names.add_aliases_of(&parsed.expr);
                let mut parsed = parsed;
                if !names.rewrite(&mut parsed.expr) {
                    return Err(error.into());
                }
                state
                    .create_logical_expr_from_sql_expr(parsed, schema)
                    .map_err(|_| error)?
            }
            planned => planned?,
        };
        // Subquery expressions are placeholders in the text: the relations they stand for.
        if self.subqueries.is_empty() {
            Ok(planned)
        } else {
            Ok(crate::subquery::replace_placeholders(
                planned,
                &self.subqueries,
            )?)
        }
    }

    /// `parsed` planned in a correlated subquery over `schema`: columns found only in the
    /// enclosing query's schema become outer references (its own columns come first, as in
    /// Spark); `None` when there is no enclosing query or the column is in neither.
    fn outer_reference(
        &self,
        state: &datafusion::execution::SessionState,
        parsed: &datafusion::sql::sqlparser::ast::ExprWithAlias,
        schema: &DFSchema,
    ) -> Option<Expr> {
        let outer = self.outer_schemas.last()?;
        let mut both = schema.clone();
        both.merge(outer);
        let planned = state
            .create_logical_expr_from_sql_expr(parsed.clone(), &both)
            .ok()?;
        planned
            .transform_up(|expr| match &expr {
                Expr::Column(column) if !schema.has_column(column) => {
                    let (_, field) = outer.qualified_field_from_column(column)?;
                    Ok(Transformed::yes(Expr::OuterReferenceColumn(
                        Arc::clone(field),
                        column.clone(),
                    )))
                }
                _ => Ok(Transformed::no(expr)),
            })
            .ok()
            .map(|t| t.data)
    }

    /// Plans the correlated subquery relations waiting for an outer query with `df` as that
    /// query: those whose every column is now found become subqueries the expressions over
    /// `df` can use.
    async fn bind_correlated(&mut self, df: &DfFrame) -> Result<(), ConnectError> {
        if self.correlated.is_empty() {
            return Ok(());
        }
        let ids: Vec<i64> = self.correlated.keys().copied().collect();
        for id in ids {
            // Out of the waiting list while it is planned: its own relations bind nothing.
            let Some((relation, error)) = self.correlated.remove(&id) else {
                continue;
            };
            self.outer_schemas.push(Arc::new(df.schema().clone()));
            let planned = self.relation(&relation).await;
            self.outer_schemas.pop();
            match planned {
                Ok(subquery) => {
                    self.subqueries.insert(id, subquery.logical_plan().clone());
                }
                Err(_) => {
                    self.correlated.insert(id, (relation, error));
                }
            }
        }
        Ok(())
    }

    /// Plans a Connect expression against `df`'s columns.
    pub fn expression(
        &self,
        df: &DfFrame,
        expression: &Expression,
    ) -> Result<Planned, ConnectError> {
        let writer = ExpressionWriter {
            schema: df.schema(),
            plan_qualifiers: &self.qualifiers,
            python_udfs: Some(&self.python_udfs),
            subqueries: &self.subqueries,
        };
        let rendered = writer.write(expression)?;
        let expr = self.sql_expr(df.schema(), &rendered.sql)?;
        let metadata = match &expression.expr_type {
            Some(spark_connect::expression::ExprType::Alias(alias)) => alias_metadata(alias),
            _ => None,
        };
        Ok(Planned {
            expr,
            rendered,
            metadata,
        })
    }

    /// Plans projection items, expanding `*` and `t.*` into columns.
    fn projection(
        &self,
        df: &DfFrame,
        expressions: &[Expression],
    ) -> Result<Vec<Expr>, ConnectError> {
        let mut exprs = Vec::new();
        for expression in expressions {
            if let Some(spark_connect::expression::ExprType::UnresolvedStar(star)) =
                &expression.expr_type
            {
                let target = star
                    .unparsed_target
                    .as_deref()
                    .map(|t| t.trim_end_matches(".*").trim_matches('`'));
                let before = exprs.len();
                for (qualifier, field) in df.schema().iter() {
                    if target.is_none_or(|t| qualifier.is_some_and(|q| q.table() == t)) {
                        exprs.push(col(Column::from((qualifier, field))));
                    }
                }
                if let Some(target) = target
                    && exprs.len() == before
                {
                    // `s.*` of a struct column: its fields.
                    let fields = match df
                        .schema()
                        .field_with_unqualified_name(target)
                        .map(|f| f.data_type().clone())
                    {
                        Ok(DataType::Struct(fields)) => fields,
                        _ => {
                            return Err(ConnectError::Analysis(format!(
                                "[CANNOT_RESOLVE_STAR_EXPAND] Cannot resolve {target}.* given input columns {}. SQLSTATE: 42704",
                                df.schema().field_names().join(", ")
                            )));
                        }
                    };
                    for field in fields.iter() {
                        let sql = format!("{}.{}", quote(target), quote(field.name()));
                        exprs.push(self.sql_expr(df.schema(), &sql)?.alias(field.name()));
                    }
                }
                continue;
            }
            exprs.push(self.expression(df, expression)?.named());
        }
        Ok(exprs)
    }

    fn sort_exprs(
        &self,
        df: &DfFrame,
        orders: &[spark_connect::expression::SortOrder],
    ) -> Result<Vec<SortExpr>, ConnectError> {
        orders
            .iter()
            .map(|order| {
                let child = order
                    .child
                    .as_deref()
                    .ok_or_else(|| missing("SortOrder.child"))?;
                let planned = self.expression(df, child)?;
                let (descending, nulls_first) = sort_flags(order);
                Ok(planned.expr.sort(!descending, nulls_first))
            })
            .collect()
    }

    /// Plans a relation as the key of its cache: everything under it reads the caches it
    /// holds, as later queries will plan it, but the relation itself is planned as it is, not
    /// read from its own cache.
    pub async fn relation_to_cache(
        &mut self,
        relation: &Relation,
    ) -> Result<DfFrame, ConnectError> {
        if let Some(id) = relation.common.as_ref().and_then(|c| c.plan_id) {
            self.seen.push(id);
        }
        let kind = relation
            .rel_type
            .as_ref()
            .ok_or_else(|| missing("Relation.rel_type"))?;
        self.plan(relation, kind).await
    }

    /// Plans a relation and everything under it.
    pub fn relation<'b>(
        &'b mut self,
        relation: &'b Relation,
    ) -> BoxFuture<'b, Result<DfFrame, ConnectError>> {
        Box::pin(async move {
            let plan_id = relation.common.as_ref().and_then(|c| c.plan_id);
            // Outside correlated subqueries a relation plans the same wherever it appears.
            let reusable = plan_id.filter(|_| self.outer_schemas.is_empty());
            if let Some((df, seen)) = reusable.and_then(|id| self.planned.get(&id)) {
                let df = df.clone();
                self.seen.extend_from_slice(&seen.clone());
                return Ok(df);
            }
            let start = self.seen.len();
            if let Some(id) = plan_id {
                self.seen.push(id);
            }
            let kind = relation
                .rel_type
                .as_ref()
                .ok_or_else(|| missing("Relation.rel_type"))?;
            let df = self.plan(relation, kind).await?;
            let Some(id) = reusable else {
                return Ok(df);
            };
            // A cached DataFrame is read from its blocks from here up, so the plans above
            // stay small however long the lineage the client sends.
            let (state, plan) = df.into_parts();
            let df = DfFrame::new(state, self.session.use_cached_data(plan)?);
            // Each id once: a lineage that holds a DataFrame twice per round would otherwise
            // see 2^n ids.
            let mut distinct = std::collections::HashSet::new();
            let seen: Vec<i64> = self.seen[start..]
                .iter()
                .copied()
                .filter(|id| distinct.insert(*id))
                .collect();
            self.seen.truncate(start);
            self.seen.extend_from_slice(&seen);
            self.planned.insert(id, (df.clone(), seen));
            Ok(df)
        })
    }

    async fn plan(&mut self, relation: &Relation, kind: &RelType) -> Result<DfFrame, ConnectError> {
        Ok(match kind {
            RelType::Sql(sql) => self.sql(sql).await?,
            RelType::Range(range) => {
                let start = range.start.unwrap_or(0);
                let partitions = range
                    .num_partitions
                    .and_then(|n| usize::try_from(n).ok())
                    .filter(|n| *n > 0);
                let df = self
                    .session
                    .range_in_partitions(start, range.end, range.step, partitions)
                    .await?;
                df.datafusion().clone()
            }
            RelType::LocalRelation(local) => self.local_relation(local)?,
            RelType::Read(read) => self.read(read).await?,
            RelType::Project(project) => {
                let df = match project.input.as_deref() {
                    Some(input) => self.relation(input).await?,
                    None => {
                        DfFrame::new(self.ctx().state(), LogicalPlanBuilder::empty(true).build()?)
                    }
                };
                self.bind_correlated(&df).await?;
                if project
                    .expressions
                    .iter()
                    .any(|e| GeneratorCall::of(e).is_some())
                {
                    let mut items = Vec::new();
                    for expression in &project.expressions {
                        match GeneratorCall::of(expression) {
                            Some(call) => items.push(Item::Generator(call)),
                            None => items.extend(
                                self.projection(&df, std::slice::from_ref(expression))?
                                    .into_iter()
                                    .map(Item::Value),
                            ),
                        }
                    }
                    return self.generate(df, items);
                }
                let exprs = unique_names(self.projection(&df, &project.expressions)?);
                if !find_aggregate_exprs(exprs.iter()).is_empty() {
                    df.aggregate(vec![], exprs)?
                } else {
                    df.select(exprs)?
                }
            }
            RelType::Filter(filter) => {
                let df = self.relation(input(&filter.input, "Filter.input")?).await?;
                self.bind_correlated(&df).await?;
                let condition = filter
                    .condition
                    .as_ref()
                    .ok_or_else(|| missing("Filter.condition"))?;
                let condition = self.expression(&df, condition)?.expr;
                df.filter(condition)?
            }
            RelType::Aggregate(aggregate) => self.aggregate(aggregate).await?,
            RelType::Join(join) => self.join(join).await?,
            RelType::Sort(sort) => {
                let df = self.relation(input(&sort.input, "Sort.input")?).await?;
                let keys = self.sort_exprs(&df, &sort.order)?;
                df.sort(keys)?
            }
            RelType::Limit(limit) => {
                let df = self.relation(input(&limit.input, "Limit.input")?).await?;
                df.limit(0, Some(usize::try_from(limit.limit).unwrap_or(0)))?
            }
            RelType::Offset(offset) => {
                let df = self.relation(input(&offset.input, "Offset.input")?).await?;
                df.limit(usize::try_from(offset.offset).unwrap_or(0), None)?
            }
            RelType::Tail(tail) => {
                let df = self.relation(input(&tail.input, "Tail.input")?).await?;
                let total = flint::DataFrame::from_datafusion(self.session, df.clone(), "tail")
                    .count()
                    .await?;
                let keep = i64::from(tail.limit.max(0));
                df.limit(usize::try_from((total - keep).max(0)).unwrap_or(0), None)?
            }
            RelType::Deduplicate(dedup) => {
                let df = self
                    .relation(input(&dedup.input, "Deduplicate.input")?)
                    .await?;
                if dedup.all_columns_as_keys.unwrap_or(false) || dedup.column_names.is_empty() {
                    df.distinct()?
                } else {
                    let keys = dedup
                        .column_names
                        .iter()
                        .map(|name| self.sql_expr(df.schema(), &quote(name)))
                        .collect::<Result<Vec<_>, _>>()?;
                    let all: Vec<Expr> = df.schema().columns().into_iter().map(col).collect();
                    df.distinct_on(keys, all, None)?
                }
            }
            RelType::SetOp(set_op) => self.set_op(set_op).await?,
            // The relations the root's subquery expressions (`isin(df)`, `exists()`,
            // `scalar()`) refer to by plan id.
            RelType::WithRelations(with) => {
                for reference in &with.references {
                    let plan_id = reference
                        .common
                        .as_ref()
                        .and_then(|c| c.plan_id)
                        .ok_or_else(|| missing("WithRelations.references.plan_id"))?;
                    match self.relation(reference).await {
                        Ok(df) => {
                            self.subqueries.insert(plan_id, df.logical_plan().clone());
                        }
                        // Names of an outer query: planned with the query that uses it.
                        Err(error) if is_unknown_column(&error) => {
                            self.correlated.insert(plan_id, (reference.clone(), error));
                        }
                        Err(error) => return Err(error),
                    }
                }
                let root = self
                    .relation(input(&with.root, "WithRelations.root")?)
                    .await;
                // A correlated subquery no relation of the root could bind: its own error
                // (the root then failed for the want of it).
                if let Some((_, (_, error))) = self.correlated.drain().next() {
                    return Err(error);
                }
                root?
            }
            RelType::MapPartitions(map) => self.map_partitions(map).await?,
            RelType::SampleBy(sample) => self.sample_by(sample).await?,
            RelType::Parse(parse) => self.parse(parse).await?,
            RelType::ApproxQuantile(quantile) => self.approx_quantile(quantile).await?,
            RelType::Transpose(transpose) => self.transpose(transpose).await?,
            RelType::GroupMap(group) => self.group_map(group).await?,
            RelType::Unpivot(unpivot) => self.unpivot(unpivot).await?,
            RelType::FreqItems(freq) => self.freq_items(freq).await?,
            RelType::ToSchema(to) => self.conform_to_schema(to).await?,
            RelType::ToDf(to_df) => {
                let df = self.relation(input(&to_df.input, "ToDf.input")?).await?;
                let columns = df.schema().columns();
                if columns.len() != to_df.column_names.len() {
                    return Err(ConnectError::Analysis(format!(
                        "[LENGTH_SHOULD_BE_THE_SAME] toDF needs {} column names, got {}",
                        columns.len(),
                        to_df.column_names.len()
                    )));
                }
                let exprs: Vec<Expr> = columns
                    .into_iter()
                    .zip(&to_df.column_names)
                    .map(|(c, name)| col(c).alias(name))
                    .collect();
                df.select(exprs)?
            }
            RelType::WithColumns(with) => {
                // Every new value is computed from the input as it was (Spark's `withColumns`);
                // a name that exists (in any case) is replaced where it stands.
                let df = self
                    .relation(input(&with.input, "WithColumns.input")?)
                    .await?;
                self.bind_correlated(&df).await?;
                let mut added: Vec<(String, Expr, Option<String>)> = Vec::new();
                // `withColumn("x", explode(...))`: the projection holds a generator.
                let mut generator = None;
                for alias in &with.aliases {
                    let expr = alias.expr.as_deref().ok_or_else(|| missing("Alias.expr"))?;
                    let name = alias.name.first().ok_or_else(|| missing("Alias.name"))?;
                    if generator.is_none()
                        && let Some(mut call) = GeneratorCall::of(expr)
                    {
                        call.rename(alias.name.clone());
                        generator = Some((name.clone(), call));
                        continue;
                    }
                    let metadata = alias_metadata(alias);
                    added.push((name.clone(), self.expression(&df, expr)?.expr, metadata));
                }
                let mut used = vec![false; added.len()];
                let mut items = Vec::new();
                for (qualifier, field) in df.schema().iter() {
                    if generator
                        .as_ref()
                        .is_some_and(|(name, _)| name.eq_ignore_ascii_case(field.name()))
                        && let Some((_, call)) = generator.take()
                    {
                        items.push(Item::Generator(call));
                        continue;
                    }
                    match added
                        .iter()
                        .position(|(name, ..)| name.eq_ignore_ascii_case(field.name()))
                    {
                        Some(index) => {
                            used[index] = true;
                            let (name, expr, metadata) = &added[index];
                            items.push(Item::Value(aliased(expr.clone(), name, metadata.clone())));
                        }
                        None => items.push(Item::Value(col(Column::from((qualifier, field))))),
                    }
                }
                for ((name, expr, metadata), used) in added.into_iter().zip(used) {
                    if !used {
                        items.push(Item::Value(aliased(expr, &name, metadata)));
                    }
                }
                items.extend(generator.map(|(_, call)| Item::Generator(call)));
                self.generate(df, items)?
            }
            RelType::WithColumnsRenamed(renamed) => {
                let mut df = self
                    .relation(input(&renamed.input, "WithColumnsRenamed.input")?)
                    .await?;
                let mut pairs: Vec<(String, String)> = renamed
                    .renames
                    .iter()
                    .map(|r| (r.col_name.clone(), r.new_col_name.clone()))
                    .collect();
                let mut map: Vec<_> = renamed
                    .rename_columns_map
                    .iter()
                    .map(|(a, b)| (a.clone(), b.clone()))
                    .collect();
                map.sort();
                pairs.extend(map);
                for (old, new) in pairs {
                    df = df.with_column_renamed(&old, &new)?;
                }
                df
            }
            RelType::Drop(drop) => {
                let df = self.relation(input(&drop.input, "Drop.input")?).await?;
                // Names to drop, with the qualifier of the side a `df.col` reference names.
                let mut names: Vec<(Option<String>, String)> = drop
                    .column_names
                    .iter()
                    .map(|n| (None, n.clone()))
                    .collect();
                for column in &drop.columns {
                    match &column.expr_type {
                        Some(spark_connect::expression::ExprType::UnresolvedAttribute(
                            attribute,
                        )) => {
                            let parts = crate::expression::identifier_parts(
                                &attribute.unparsed_identifier,
                            )?;
                            let qualifier = attribute
                                .plan_id
                                .and_then(|id| self.qualifiers.get(&id).cloned());
                            let name = parts.last().cloned().unwrap_or_default();
                            // A column (not a name) must name one column, as Spark resolves it.
                            if qualifier.is_none() && parts.len() == 1 {
                                let matches: Vec<String> = df
                                    .schema()
                                    .iter()
                                    .filter(|(_, field)| field.name() == &name)
                                    .map(|(q, field)| match q {
                                        Some(q) => format!("`{}`.`{}`", q.table(), field.name()),
                                        None => format!("`{}`", field.name()),
                                    })
                                    .collect();
                                if matches.len() > 1 {
                                    return Err(ConnectError::Analysis(format!(
                                        "[AMBIGUOUS_REFERENCE] Reference `{name}` is ambiguous, could be: [{}]. SQLSTATE: 42704",
                                        matches.join(", ")
                                    )));
                                }
                            }
                            names.push((qualifier, name));
                        }
                        _ => {
                            return Err(ConnectError::Unsupported(
                                "drop of an expression that is not a column".into(),
                            ));
                        }
                    }
                }
                let keep: Vec<Expr> = df
                    .schema()
                    .iter()
                    .filter(|(q, field)| {
                        !names.iter().any(|(qualifier, name)| {
                            name == field.name()
                                && qualifier.as_ref().is_none_or(|wanted| {
                                    q.is_some_and(|q| q.table() == wanted.as_str())
                                })
                        })
                    })
                    .map(|(q, field)| col(Column::from((q, field))))
                    .collect();
                df.select(keep)?
            }
            RelType::SubqueryAlias(alias) => {
                let start = self.seen.len();
                let df = self
                    .relation(input(&alias.input, "SubqueryAlias.input")?)
                    .await?;
                for id in &self.seen[start..] {
                    self.qualifiers.insert(*id, alias.alias.clone());
                }
                if let Some(id) = relation.common.as_ref().and_then(|c| c.plan_id) {
                    self.qualifiers.insert(id, alias.alias.clone());
                }
                df.alias(&alias.alias)?
            }
            RelType::ShowString(show) => {
                let df = self
                    .relation(input(&show.input, "ShowString.input")?)
                    .await?;
                let rows = usize::try_from(show.num_rows).unwrap_or(0);
                let frame = flint::DataFrame::from_datafusion(
                    self.session,
                    df.clone().limit(0, Some(rows + 1))?,
                    "showString",
                );
                let batches = frame.collect_as("showString").await?;
                let schema: SchemaRef =
                    Arc::new(crate::types::with_spark_names(df.schema().as_arrow()));
                let text = flint::format_show_with(
                    &schema,
                    &batches,
                    rows,
                    usize::try_from(show.truncate).unwrap_or(0),
                    show.vertical,
                );
                self.single_string("show_string", text)?
            }
            RelType::Repartition(repartition) => {
                let df = self
                    .relation(input(&repartition.input, "Repartition.input")?)
                    .await?;
                let n = usize::try_from(repartition.num_partitions)
                    .unwrap_or(1)
                    .max(1);
                df.repartition(Partitioning::RoundRobinBatch(n))?
            }
            RelType::RepartitionByExpression(repartition)
                if repartition.partition_exprs.iter().any(is_sort_order) =>
            {
                self.repartition_by_range(repartition).await?
            }
            RelType::RepartitionByExpression(repartition) => {
                let df = self
                    .relation(input(&repartition.input, "RepartitionByExpression.input")?)
                    .await?;
                let keys = repartition
                    .partition_exprs
                    .iter()
                    .map(|e| Ok(self.expression(&df, e)?.expr))
                    .collect::<Result<Vec<_>, ConnectError>>()?;
                let n = repartition
                    .num_partitions
                    .and_then(|n| usize::try_from(n).ok())
                    .unwrap_or_else(|| self.session.shuffle_partitions())
                    .max(1);
                df.repartition(Partitioning::Hash(keys, n))?
            }
            RelType::Sample(sample) => {
                let df = self.relation(input(&sample.input, "Sample.input")?).await?;
                let seed = sample.seed.unwrap_or(0);
                if sample.with_replacement.unwrap_or(false) {
                    return self.sample_with_replacement(
                        df,
                        sample.upper_bound - sample.lower_bound,
                        seed,
                    );
                }
                let draw = if sample.deterministic_order {
                    // `randomSplit`: each row draws a number in [0, 1) from its values and the
                    // seed, so the samples taken with one seed over [0, 0.5) and [0.5, 1)
                    // split the rows exactly whatever order they come in (Spark sorts each
                    // partition first to the same end).
                    let hashed = std::iter::once(format!("{seed}L"))
                        .chain(df.schema().fields().iter().map(|f| quote(f.name())))
                        .collect::<Vec<_>>()
                        .join(", ");
                    format!(
                        "((CAST(hash({hashed}) AS BIGINT) % 1000003 + 1000003) % 1000003) / 1000003.0D"
                    )
                } else {
                    // Spark's `BernoulliCellSampler`: a row is kept when its partition's
                    // `XORShiftRandom(seed + partition)` draws a number in [lower, upper),
                    // so the rows kept are Spark's on the same partitioning.
                    format!("rand({seed}L)")
                };
                let condition = format!(
                    "{draw} >= {:?}D AND {draw} < {:?}D",
                    sample.lower_bound, sample.upper_bound
                );
                let condition = self.sql_expr(df.schema(), &condition)?;
                df.filter(condition)?
            }
            RelType::Hint(hint) => self.relation(input(&hint.input, "Hint.input")?).await?,
            RelType::FillNa(fill) => self.fill_na(fill).await?,
            RelType::DropNa(drop) => self.drop_na(drop).await?,
            RelType::Replace(replace) => self.replace(replace).await?,
            RelType::Describe(describe) => {
                let df = self
                    .relation(input(&describe.input, "StatDescribe.input")?)
                    .await?;
                let stats = ["count", "mean", "stddev", "min", "max"].map(String::from);
                self.summary(df, &describe.cols, &stats).await?
            }
            RelType::Summary(summary) => {
                let df = self
                    .relation(input(&summary.input, "StatSummary.input")?)
                    .await?;
                let stats = if summary.statistics.is_empty() {
                    ["count", "mean", "stddev", "min", "25%", "50%", "75%", "max"]
                        .map(String::from)
                        .to_vec()
                } else {
                    summary.statistics.clone()
                };
                self.summary(df, &[], &stats).await?
            }
            RelType::Catalog(catalog) => crate::catalog::plan(self, catalog).await?,
            RelType::Corr(corr) => {
                if let Some(method) = corr.method.as_deref()
                    && method != "pearson"
                {
                    return Err(ConnectError::IllegalArgument(
                        "requirement failed: Currently only the calculation of the Pearson Correlation coefficient is supported.".into(),
                    ));
                }
                let df = self.relation(input(&corr.input, "StatCorr.input")?).await?;
                self.pair_statistic(df, [&corr.col1, &corr.col2], "corr", "corr", "correlation")?
            }
            RelType::Cov(cov) => {
                let df = self.relation(input(&cov.input, "StatCov.input")?).await?;
                self.pair_statistic(
                    df,
                    [&cov.col1, &cov.col2],
                    "covar_samp",
                    "cov",
                    "covariance",
                )?
            }
            RelType::Crosstab(crosstab) => self.crosstab(crosstab).await?,
            other => {
                return Err(ConnectError::Unsupported(format!(
                    "the Connect relation {}",
                    relation_name(other)
                )));
            }
        })
    }

    /// A one-row, one-column DataFrame holding `text` (the answer of `show_string`, catalogs).
    pub fn single_string(&self, name: &str, text: String) -> Result<DfFrame, ConnectError> {
        let schema = Arc::new(Schema::new(vec![Field::new(name, DataType::Utf8, false)]));
        let batch = RecordBatch::try_new(
            Arc::clone(&schema),
            vec![Arc::new(StringArray::from(vec![text]))],
        )
        .map_err(datafusion::error::DataFusionError::from)?;
        self.batches(schema, vec![batch])
    }

    /// A DataFrame over batches held in memory.
    pub fn batches(
        &self,
        schema: SchemaRef,
        batches: Vec<RecordBatch>,
    ) -> Result<DfFrame, ConnectError> {
        let table = MemTable::try_new(schema, vec![batches])?;
        Ok(self.ctx().read_table(Arc::new(table))?)
    }

    async fn sql(&mut self, sql: &spark_connect::Sql) -> Result<DfFrame, ConnectError> {
        let text = crate::command::bind_parameters(self, sql)?;
        Ok(self.session.sql(&text).await?.datafusion().clone())
    }

    fn local_relation(
        &self,
        local: &spark_connect::LocalRelation,
    ) -> Result<DfFrame, ConnectError> {
        let (schema, batches) = match &local.data {
            Some(data) => {
                let reader = datafusion::arrow::ipc::reader::StreamReader::try_new(
                    std::io::Cursor::new(data.clone()),
                    None,
                )
                .map_err(|e| ConnectError::InvalidPlan(format!("local relation: {e}")))?;
                let schema = reader.schema();
                let batches = reader
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| ConnectError::InvalidPlan(format!("local relation: {e}")))?;
                (schema, batches)
            }
            None => {
                let schema = match &local.schema {
                    Some(text) => schema_from_text(text)?,
                    None => return Err(missing("LocalRelation.data or schema")),
                };
                (schema, Vec::new())
            }
        };
        let zone = flint_sql::functions::timezone::zone_named(&self.session.session_time_zone())?;
        let (schema, batches) = zone_less_timestamps(schema, batches, &zone)?;
        self.batches(schema, batches)
    }

    async fn read(&mut self, read: &spark_connect::Read) -> Result<DfFrame, ConnectError> {
        use spark_connect::read::ReadType;
        match read
            .read_type
            .as_ref()
            .ok_or_else(|| missing("Read.read_type"))?
        {
            ReadType::NamedTable(table) => {
                let parts = crate::expression::identifier_parts(&table.unparsed_identifier)?;
                let name = parts.iter().map(|p| quote(p)).collect::<Vec<_>>().join(".");
                Ok(self
                    .session
                    .sql(&format!("SELECT * FROM {name}"))
                    .await?
                    .datafusion()
                    .clone())
            }
            ReadType::DataSource(source) => {
                let format = source.format.clone().unwrap_or_else(|| "parquet".into());
                let mut reader = self.session.read();
                for (key, value) in &source.options {
                    reader = reader.option(key, value);
                }
                if let Some(schema) = &source.schema
                    && !schema.is_empty()
                {
                    reader = reader.schema(schema_from_text(schema)?);
                }
                let paths: Vec<&str> = match (source.paths.as_slice(), source.options.get("path")) {
                    ([], Some(path)) => vec![path.as_str()],
                    ([], None) => {
                        return Err(ConnectError::IllegalArgument(
                            "a path is needed to read files: load(path)".into(),
                        ));
                    }
                    (paths, _) => paths.iter().map(String::as_str).collect(),
                };
                let paths: Vec<&str> = paths
                    .into_iter()
                    .map(|path| path.strip_prefix("file://").unwrap_or(path))
                    .collect();
                Ok(reader
                    .format_load_paths(&format, &paths)
                    .await?
                    .datafusion()
                    .clone())
            }
        }
    }

    async fn aggregate(
        &mut self,
        aggregate: &spark_connect::Aggregate,
    ) -> Result<DfFrame, ConnectError> {
        use spark_connect::aggregate::GroupType;
        let df = self
            .relation(input(&aggregate.input, "Aggregate.input")?)
            .await?;
        let groups = aggregate
            .grouping_expressions
            .iter()
            .map(|e| Ok(self.expression(&df, e)?.named()))
            .collect::<Result<Vec<_>, ConnectError>>()?;
        let group_type = GroupType::try_from(aggregate.group_type).unwrap_or(GroupType::Groupby);
        if group_type == GroupType::Pivot {
            return self.pivot(df, aggregate, groups).await;
        }
        let aggregates = aggregate
            .aggregate_expressions
            .iter()
            .map(|e| {
                let e = grouping_id_of_group(e, &aggregate.grouping_expressions);
                Ok(self.expression(&df, &e)?.named())
            })
            .collect::<Result<Vec<_>, ConnectError>>()?;
        let groups = match group_type {
            GroupType::Rollup => vec![datafusion::logical_expr::expr_fn::rollup(strip_aliases(
                groups,
            ))],
            GroupType::Cube => vec![datafusion::logical_expr::expr_fn::cube(strip_aliases(
                groups,
            ))],
            GroupType::GroupingSets => {
                let sets = aggregate
                    .grouping_sets
                    .iter()
                    .map(|set| {
                        set.grouping_set
                            .iter()
                            .map(|e| Ok(self.expression(&df, e)?.expr))
                            .collect::<Result<Vec<_>, ConnectError>>()
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                vec![datafusion::logical_expr::expr_fn::grouping_set(sets)]
            }
            _ => groups,
        };
        Ok(df.aggregate(groups, aggregates)?)
    }

    /// `groupBy(...).pivot(col, values).agg(...)`: one aggregate per value, over the rows
    /// where the pivot column equals it, named `value` (one aggregate) or `value_agg`.
    async fn pivot(
        &mut self,
        df: DfFrame,
        aggregate: &spark_connect::Aggregate,
        groups: Vec<Expr>,
    ) -> Result<DfFrame, ConnectError> {
        let pivot = aggregate
            .pivot
            .as_ref()
            .ok_or_else(|| missing("Aggregate.pivot"))?;
        let column = pivot.col.as_ref().ok_or_else(|| missing("Pivot.col"))?;
        let writer = ExpressionWriter {
            schema: df.schema(),
            plan_qualifiers: &self.qualifiers,
            python_udfs: Some(&self.python_udfs),
            subqueries: &self.subqueries,
        };
        let pivot_sql = writer.write(column)?.sql;
        let values: Vec<(String, String)> = if pivot.values.is_empty() {
            let key = self.sql_expr(df.schema(), &pivot_sql)?;
            let distinct = df
                .clone()
                .select(vec![key.clone().alias("v")])?
                .distinct()?
                .sort(vec![col("v").sort(true, true)])?;
            let batches = flint::DataFrame::from_datafusion(self.session, distinct, "pivot")
                .collect_as("pivot")
                .await?;
            let mut values = Vec::new();
            for batch in &batches {
                for row in 0..batch.num_rows() {
                    values.push(scalar_sql(&ScalarValue::try_from_array(
                        batch.column(0),
                        row,
                    )?));
                }
            }
            values
        } else {
            pivot
                .values
                .iter()
                .map(crate::literal::render_literal)
                .collect::<Result<_, _>>()?
        };
        let aggregates: Vec<Rendered> = aggregate
            .aggregate_expressions
            .iter()
            .map(|e| writer.write(e))
            .collect::<Result<_, _>>()?;
        // Each cell aggregates the rows of its value; a cell with no rows is NULL, also for
        // `count` (Spark pivots the grouped result, so empty cells have no value at all).
        let group_count = groups.len();
        let mut cells = Vec::new();
        let mut names = Vec::new();
        for (value_sql, value_name) in &values {
            for rendered in &aggregates {
                let name = if aggregates.len() == 1 {
                    value_name.clone()
                } else {
                    format!("{value_name}_{}", rendered.name)
                };
                let filter = format!("FILTER (WHERE {pivot_sql} <=> {value_sql})");
                let index = names.len();
                cells.push(
                    self.sql_expr(df.schema(), &format!("{} {filter}", rendered.sql))?
                        .alias(format!("__flint_cell_{index}")),
                );
                cells.push(
                    self.sql_expr(df.schema(), &format!("count(*) {filter}"))?
                        .alias(format!("__flint_rows_{index}")),
                );
                names.push(name);
            }
        }
        let aggregated = df.aggregate(groups, cells)?;
        let mut output: Vec<Expr> = aggregated
            .schema()
            .columns()
            .into_iter()
            .take(group_count)
            .map(col)
            .collect();
        for (index, name) in names.iter().enumerate() {
            let cell = self.sql_expr(
                aggregated.schema(),
                &format!("CASE WHEN __flint_rows_{index} > 0 THEN __flint_cell_{index} END"),
            )?;
            output.push(cell.alias(name));
        }
        Ok(aggregated.select(output)?)
    }

    async fn join(&mut self, join: &spark_connect::Join) -> Result<DfFrame, ConnectError> {
        use datafusion::common::JoinType;
        use spark_connect::join::JoinType as Kind;
        let start = self.seen.len();
        let left = self.relation(input(&join.left, "Join.left")?).await?;
        let middle = self.seen.len();
        let right = self.relation(input(&join.right, "Join.right")?).await?;
        let left_ids = self.seen[start..middle].to_vec();
        let right_ids = self.seen[middle..].to_vec();
        // Sides whose column qualifiers clash (a self-join, two reads) get their own names,
        // under which `df.col` references of each side resolve.
        let (left, right) = if qualifiers_clash(left.schema(), right.schema()) {
            let left_name = self.side_alias("left", &left_ids);
            let right_name = self.side_alias("right", &right_ids);
            for id in &left_ids {
                self.qualifiers.insert(*id, left_name.clone());
            }
            for id in &right_ids {
                self.qualifiers.insert(*id, right_name.clone());
            }
            (left.alias(&left_name)?, right.alias(&right_name)?)
        } else {
            // Sides that keep their own names: `df.col` resolves under the side's qualifier.
            for (ids, side) in [(&left_ids, &left), (&right_ids, &right)] {
                if let Some(qualifier) = single_qualifier(side.schema()) {
                    for id in ids {
                        self.qualifiers.insert(*id, qualifier.clone());
                    }
                }
            }
            (left, right)
        };
        let join_type = match Kind::try_from(join.join_type).unwrap_or(Kind::Inner) {
            Kind::Inner | Kind::Unspecified | Kind::Cross => JoinType::Inner,
            Kind::LeftOuter => JoinType::Left,
            Kind::RightOuter => JoinType::Right,
            Kind::FullOuter => JoinType::Full,
            Kind::LeftSemi => JoinType::LeftSemi,
            Kind::LeftAnti => JoinType::LeftAnti,
        };
        if !join.using_columns.is_empty() {
            return self.join_using(
                (left, &left_ids),
                (right, &right_ids),
                join_type,
                &join.using_columns,
            );
        }
        match &join.join_condition {
            Some(condition) => {
                let probe = left
                    .clone()
                    .join_on(right.clone(), JoinType::Inner, vec![])?;
                let condition = self.expression(&probe, condition)?.expr;
                Ok(left.join_on(right, join_type, vec![condition])?)
            }
            None => Ok(left.join_on(right, join_type, vec![])?),
        }
    }

    /// `join(other, on=[names], how)`: one copy of each key column first, then the others.
    fn join_using(
        &mut self,
        (left, left_ids): (DfFrame, &[i64]),
        (right, right_ids): (DfFrame, &[i64]),
        join_type: datafusion::common::JoinType,
        using: &[String],
    ) -> Result<DfFrame, ConnectError> {
        use datafusion::common::JoinType;
        let left_name = self.side_alias("left", left_ids);
        let right_name = self.side_alias("right", right_ids);
        for id in left_ids {
            self.qualifiers.insert(*id, left_name.clone());
        }
        for id in right_ids {
            self.qualifiers.insert(*id, right_name.clone());
        }
        let left = left.alias(&left_name)?;
        let right = right.alias(&right_name)?;
        let keys: Vec<&str> = using.iter().map(String::as_str).collect();
        let left_columns: Vec<String> = left
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect();
        let right_columns: Vec<String> = right
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect();
        let joined = left.join(right, join_type, &keys, &keys, None)?;
        let side = |qualifier: &str, name: &str| col(Column::new(Some(qualifier), name));
        let mut exprs: Vec<Expr> = keys
            .iter()
            .map(|key| {
                let key_expr = match join_type {
                    JoinType::Right => side(&right_name, key),
                    JoinType::Full => datafusion::functions::expr_fn::coalesce(vec![
                        side(&left_name, key),
                        side(&right_name, key),
                    ]),
                    _ => side(&left_name, key),
                };
                key_expr.alias(*key)
            })
            .collect();
        exprs.extend(
            left_columns
                .iter()
                .filter(|c| !keys.contains(&c.as_str()))
                .map(|c| side(&left_name, c)),
        );
        if !matches!(join_type, JoinType::LeftSemi | JoinType::LeftAnti) {
            exprs.extend(
                right_columns
                    .iter()
                    .filter(|c| !keys.contains(&c.as_str()))
                    .map(|c| side(&right_name, c)),
            );
        }
        Ok(joined.select(exprs)?)
    }

    /// The name a join side is planned under: from the plan ids the client gave the side,
    /// so the same DataFrame is planned the same way wherever it appears (a cached one is
    /// then found in later queries); a counter's only when the side has none.
    fn side_alias(&mut self, side: &str, ids: &[i64]) -> String {
        match ids.first() {
            Some(id) => format!("__flint_{side}_{id}"),
            None => self.fresh_alias(),
        }
    }

    fn fresh_alias(&mut self) -> String {
        self.next_alias += 1;
        format!("__flint_side_{}", self.next_alias)
    }

    async fn set_op(
        &mut self,
        set_op: &spark_connect::SetOperation,
    ) -> Result<DfFrame, ConnectError> {
        use spark_connect::set_operation::SetOpType;
        let left = self
            .relation(input(&set_op.left_input, "SetOperation.left_input")?)
            .await?;
        let right = self
            .relation(input(&set_op.right_input, "SetOperation.right_input")?)
            .await?;
        let all = set_op.is_all.unwrap_or(false);
        let by_name = set_op.by_name.unwrap_or(false);
        let kind = SetOpType::try_from(set_op.set_op_type).unwrap_or(SetOpType::Unspecified);
        if matches!(kind, SetOpType::Union)
            && !by_name
            && left.schema().fields().len() != right.schema().fields().len()
        {
            return Err(ConnectError::Analysis(format!(
                "[NUM_COLUMNS_MISMATCH] UNION can only be performed on inputs with the same number of columns, but the first input has {} columns and the second input has {} columns. SQLSTATE: 42826",
                left.schema().fields().len(),
                right.schema().fields().len()
            )));
        }
        Ok(match (kind, all, by_name) {
            (SetOpType::Union, true, false) => left.union(right)?,
            (SetOpType::Union, false, false) => left.union_distinct(right)?,
            (SetOpType::Union, true, true) => left.union_by_name(right)?,
            (SetOpType::Union, false, true) => left.union_by_name_distinct(right)?,
            (SetOpType::Intersect, true, _) => multiset(left, right, true)?,
            (SetOpType::Intersect, false, _) => left.intersect_distinct(right)?,
            (SetOpType::Except, true, _) => multiset(left, right, false)?,
            (SetOpType::Except, false, _) => left.except_distinct(right)?,
            (SetOpType::Unspecified, _, _) => return Err(missing("SetOperation.set_op_type")),
        })
    }

    /// The columns `cols` names, or every column.
    fn target_columns(df: &DfFrame, cols: &[String]) -> Vec<(String, DataType)> {
        df.schema()
            .fields()
            .iter()
            .filter(|f| cols.is_empty() || cols.iter().any(|c| c == f.name()))
            .map(|f| (f.name().clone(), f.data_type().clone()))
            .collect()
    }

    async fn fill_na(&mut self, fill: &spark_connect::NaFill) -> Result<DfFrame, ConnectError> {
        let df = self.relation(input(&fill.input, "NaFill.input")?).await?;
        let values: Vec<(String, &spark_connect::expression::Literal)> = if fill.values.len() == 1 {
            Self::target_columns(&df, &fill.cols)
                .into_iter()
                .map(|(name, _)| (name, &fill.values[0]))
                .collect()
        } else if fill.values.len() == fill.cols.len() {
            fill.cols.iter().cloned().zip(&fill.values).collect()
        } else {
            return Err(ConnectError::InvalidPlan(
                "fillna: one value, or one per column".into(),
            ));
        };
        let mut exprs = Vec::new();
        for (qualifier, field) in df.schema().iter() {
            let column = col(Column::from((qualifier, field)));
            let replacement = values
                .iter()
                .find(|(name, _)| name == field.name())
                .map(|(_, v)| *v);
            match replacement {
                Some(value) if literal_fits(value, field.data_type()) => {
                    let (sql, _) = crate::literal::render_literal(value)?;
                    let value = self
                        .sql_expr(df.schema(), &sql)?
                        .cast_to(field.data_type(), df.schema())?;
                    // Spark's `fillna` also replaces NaN in float columns.
                    let column =
                        if matches!(field.data_type(), DataType::Float32 | DataType::Float64) {
                            self.sql_expr(
                                df.schema(),
                                &format!("nanvl({}, NULL)", quote(field.name())),
                            )?
                        } else {
                            column
                        };
                    exprs.push(
                        datafusion::functions::expr_fn::coalesce(vec![column, value])
                            .alias(field.name()),
                    );
                }
                _ => exprs.push(column),
            }
        }
        Ok(df.select(exprs)?)
    }

    async fn drop_na(&mut self, drop: &spark_connect::NaDrop) -> Result<DfFrame, ConnectError> {
        let df = self.relation(input(&drop.input, "NaDrop.input")?).await?;
        let columns = Self::target_columns(&df, &drop.cols);
        let present: Vec<String> = columns
            .iter()
            .map(|(name, data_type)| {
                let is_float = matches!(data_type, DataType::Float32 | DataType::Float64);
                let nan = if is_float {
                    format!(" AND NOT isnan({})", quote(name))
                } else {
                    String::new()
                };
                format!(
                    "(CASE WHEN {} IS NOT NULL{nan} THEN 1 ELSE 0 END)",
                    quote(name)
                )
            })
            .collect();
        if present.is_empty() {
            return Ok(df);
        }
        let needed = drop
            .min_non_nulls
            .map(i64::from)
            .unwrap_or(present.len() as i64);
        let condition = self.sql_expr(
            df.schema(),
            &format!("({}) >= {needed}", present.join(" + ")),
        )?;
        Ok(df.filter(condition)?)
    }

    async fn replace(
        &mut self,
        replace: &spark_connect::NaReplace,
    ) -> Result<DfFrame, ConnectError> {
        let df = self
            .relation(input(&replace.input, "NaReplace.input")?)
            .await?;
        let targets = Self::target_columns(&df, &replace.cols);
        let mut exprs = Vec::new();
        for (qualifier, field) in df.schema().iter() {
            let column = col(Column::from((qualifier, field)));
            if !targets.iter().any(|(name, _)| name == field.name()) {
                exprs.push(column);
                continue;
            }
            let mut cases = Vec::new();
            for replacement in &replace.replacements {
                let (Some(old), Some(new)) = (&replacement.old_value, &replacement.new_value)
                else {
                    continue;
                };
                if !literal_fits(old, field.data_type()) {
                    continue;
                }
                let (old_sql, _) = crate::literal::render_literal(old)?;
                let (new_sql, _) = crate::literal::render_literal(new)?;
                let test = if matches!(
                    old.literal_type,
                    Some(spark_connect::expression::literal::LiteralType::Null(_))
                ) {
                    format!("{} IS NULL", quote(field.name()))
                } else {
                    format!("{} = {old_sql}", quote(field.name()))
                };
                cases.push(format!("WHEN {test} THEN {new_sql}"));
            }
            if cases.is_empty() {
                exprs.push(column);
                continue;
            }
            let sql = format!("CASE {} ELSE {} END", cases.join(" "), quote(field.name()));
            let expr = self
                .sql_expr(df.schema(), &sql)?
                .cast_to(field.data_type(), df.schema())?;
            exprs.push(expr.alias(field.name()));
        }
        Ok(df.select(exprs)?)
    }

    /// `describe()`/`summary()`: the statistics of numeric and string columns as strings, one
    /// row per statistic, computed by one job.
    /// `df.stat.corr`/`cov`: one row, one DOUBLE column named `corr`/`cov`, of `function` over
    /// two numeric columns.
    fn pair_statistic(
        &self,
        df: DfFrame,
        columns: [&String; 2],
        function: &str,
        output: &str,
        what: &str,
    ) -> Result<DfFrame, ConnectError> {
        let mut arguments = Vec::new();
        for name in columns {
            let column = self.sql_expr(df.schema(), &quote(name))?;
            let data_type = column.get_type(df.schema())?;
            if !data_type.is_numeric() {
                let spark_type =
                    crate::types::sql_type_name(&crate::types::to_connect(&data_type))?;
                return Err(ConnectError::IllegalArgument(format!(
                    "requirement failed: Currently {what} calculation for columns with dataType {} not supported.",
                    spark_type.to_lowercase()
                )));
            }
            arguments.push(quote(name));
        }
        let statistic = self
            .sql_expr(
                df.schema(),
                &format!("CAST({function}({}) AS DOUBLE)", arguments.join(", ")),
            )?
            .alias(output);
        Ok(df.aggregate(vec![], vec![statistic])?)
    }

    /// `df.stat.crosstab(col1, col2)`: a row per distinct value of `col1`, a column per
    /// distinct value of `col2` (sorted, as strings; NULL is `null`) holding how many rows
    /// have both, the first column named `col1_col2`: Spark's contingency table.
    async fn crosstab(
        &mut self,
        crosstab: &spark_connect::StatCrosstab,
    ) -> Result<DfFrame, ConnectError> {
        use datafusion::arrow::array::Int64Array;
        use std::collections::{BTreeMap, BTreeSet};
        let df = self
            .relation(input(&crosstab.input, "StatCrosstab.input")?)
            .await?;
        let as_string = |name: &str| format!("CAST({} AS STRING)", quote(name));
        let keys = vec![
            self.sql_expr(df.schema(), &as_string(&crosstab.col1))?
                .alias("__flint_first"),
            self.sql_expr(df.schema(), &as_string(&crosstab.col2))?
                .alias("__flint_second"),
        ];
        let count = self
            .sql_expr(df.schema(), "count(1)")?
            .alias("__flint_count");
        let counts = flint::DataFrame::from_datafusion(
            self.session,
            df.aggregate(keys, vec![count])?,
            "crosstab",
        )
        .collect_as("crosstab")
        .await?;
        let strings = |array: &ArrayRef| -> Result<Vec<String>, ConnectError> {
            let array = datafusion::arrow::compute::cast(array, &DataType::Utf8)
                .map_err(datafusion::error::DataFusionError::from)?;
            let strings = array
                .as_any()
                .downcast_ref::<StringArray>()
                .ok_or_else(|| {
                    datafusion::error::DataFusionError::Internal(
                        "crosstab keys are not strings".into(),
                    )
                })?;
            Ok(strings
                .iter()
                .map(|value| value.unwrap_or("null").to_string())
                .collect())
        };
        let mut table: BTreeMap<String, HashMap<String, i64>> = BTreeMap::new();
        let mut headers = BTreeSet::new();
        for batch in &counts {
            let firsts = strings(batch.column(0))?;
            let seconds = strings(batch.column(1))?;
            let numbers = datafusion::arrow::compute::cast(batch.column(2), &DataType::Int64)
                .map_err(datafusion::error::DataFusionError::from)?;
            let numbers = numbers
                .as_any()
                .downcast_ref::<Int64Array>()
                .ok_or_else(|| {
                    datafusion::error::DataFusionError::Internal(
                        "crosstab counts are not numbers".into(),
                    )
                })?;
            for ((first, second), number) in firsts.into_iter().zip(seconds).zip(numbers.values()) {
                headers.insert(second.clone());
                *table.entry(first).or_default().entry(second).or_default() += number;
            }
        }
        // Spark's limit: a table wider than that is no contingency table anyone reads.
        if headers.len() >= 10_000 {
            return Err(ConnectError::IllegalArgument(format!(
                "requirement failed: The number of distinct values for {}, can't exceed 1e4. Currently {}",
                crosstab.col2,
                headers.len()
            )));
        }
        let mut fields = vec![Field::new(
            format!("{}_{}", crosstab.col1, crosstab.col2),
            DataType::Utf8,
            true,
        )];
        let mut columns: Vec<ArrayRef> =
            vec![Arc::new(StringArray::from_iter_values(table.keys()))];
        for header in &headers {
            fields.push(Field::new(header, DataType::Int64, false));
            columns.push(Arc::new(Int64Array::from_iter_values(
                table
                    .values()
                    .map(|row| row.get(header).copied().unwrap_or(0)),
            )));
        }
        let schema = Arc::new(Schema::new(fields));
        let batch = RecordBatch::try_new(Arc::clone(&schema), columns)
            .map_err(datafusion::error::DataFusionError::from)?;
        self.batches(schema, vec![batch])
    }

    async fn summary(
        &mut self,
        df: DfFrame,
        cols: &[String],
        statistics: &[String],
    ) -> Result<DfFrame, ConnectError> {
        let columns: Vec<(String, DataType)> = Self::target_columns(&df, cols)
            .into_iter()
            .filter(|(_, t)| {
                t.is_numeric()
                    || matches!(t, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View)
            })
            .collect();
        let mut aggregates = Vec::new();
        // Per statistic and column, the aggregate computing it (none: the cell is NULL, such
        // as the mean of a string column).
        let mut cells: Vec<Option<usize>> = Vec::new();
        for statistic in statistics {
            for (name, data_type) in &columns {
                let column = quote(name);
                let numeric = data_type.is_numeric();
                let sql = match statistic.as_str() {
                    "count" => format!("CAST(count({column}) AS STRING)"),
                    "mean" if numeric => format!("CAST(avg({column}) AS STRING)"),
                    "stddev" if numeric => format!("CAST(stddev_samp({column}) AS STRING)"),
                    "min" => format!("CAST(min({column}) AS STRING)"),
                    "max" => format!("CAST(max({column}) AS STRING)"),
                    percent if percent.ends_with('%') && numeric => {
                        let fraction: f64 =
                            percent.trim_end_matches('%').parse::<f64>().map_err(|_| {
                                ConnectError::IllegalArgument(format!(
                                    "{percent} is not a recognised statistic"
                                ))
                            })? / 100.0;
                        format!("CAST(percentile_approx({column}, {fraction:?}D) AS STRING)")
                    }
                    "count_distinct" => format!("CAST(count(DISTINCT {column}) AS STRING)"),
                    "mean" | "stddev" => {
                        cells.push(None);
                        continue;
                    }
                    _ if statistic.ends_with('%') => {
                        cells.push(None);
                        continue;
                    }
                    other => {
                        return Err(ConnectError::IllegalArgument(format!(
                            "{other} is not a recognised statistic"
                        )));
                    }
                };
                cells.push(Some(aggregates.len()));
                aggregates.push(
                    self.sql_expr(df.schema(), &sql)?
                        .alias(format!("__flint_statistic_{}", aggregates.len())),
                );
            }
        }
        let computed = if aggregates.is_empty() {
            Vec::new()
        } else {
            let frame = flint::DataFrame::from_datafusion(
                self.session,
                df.aggregate(vec![], aggregates)?,
                "describe",
            );
            frame.collect_as("describe").await?
        };
        let row = computed.iter().find(|b| b.num_rows() > 0);
        let mut output: Vec<ArrayRef> = vec![Arc::new(StringArray::from(statistics.to_vec()))];
        for (index, _) in columns.iter().enumerate() {
            let values: Vec<Option<String>> = (0..statistics.len())
                .map(|s| {
                    let cell = cells[s * columns.len() + index]?;
                    row.and_then(|batch| {
                        let array = batch.column(cell);
                        let array =
                            datafusion::arrow::compute::cast(array, &DataType::Utf8).ok()?;
                        let strings = array.as_any().downcast_ref::<StringArray>()?;
                        (!strings.is_null(0)).then(|| strings.value(0).to_string())
                    })
                })
                .collect();
            output.push(Arc::new(StringArray::from(values)));
        }
        let mut fields = vec![Field::new("summary", DataType::Utf8, true)];
        fields.extend(
            columns
                .iter()
                .map(|(name, _)| Field::new(name, DataType::Utf8, true)),
        );
        let schema = Arc::new(Schema::new(fields));
        let batch = RecordBatch::try_new(Arc::clone(&schema), output)
            .map_err(datafusion::error::DataFusionError::from)?;
        self.batches(schema, vec![batch])
    }
}

/// `INTERSECT ALL` (`keep`) and `EXCEPT ALL` with Spark's multiset answers: a row kept n
/// times on the left and m on the right appears min(n, m) times, or max(n - m, 0). Each
/// copy of a row is numbered on both sides, and rows match on their values (NULLs equal)
/// and number.
fn multiset(left: DfFrame, right: DfFrame, keep: bool) -> Result<DfFrame, ConnectError> {
    use datafusion::common::JoinType;
    use datafusion::functions_window::expr_fn::row_number;
    use datafusion::logical_expr::ExprFunctionExt;
    const NUMBER: &str = "__flint_copy";
    let names: Vec<String> = left
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    if names.len() != right.schema().fields().len() {
        return Err(ConnectError::Analysis(format!(
            "[NUM_COLUMNS_MISMATCH] {} can only be performed on inputs with the same number of columns, but the first input has {} columns and the second input has {} columns. SQLSTATE: 42826",
            if keep { "INTERSECT" } else { "EXCEPT" },
            names.len(),
            right.schema().fields().len()
        )));
    }
    let number = |df: DfFrame, side: &str| -> Result<DfFrame, ConnectError> {
        let columns: Vec<Expr> = df
            .schema()
            .columns()
            .into_iter()
            .zip(&names)
            .map(|(c, name)| col(c).alias(name))
            .collect();
        let renamed = df.select(columns)?;
        let keys: Vec<Expr> = names.iter().map(|n| col(Column::from_name(n))).collect();
        let numbered =
            renamed.window(vec![row_number().partition_by(keys).build()?.alias(NUMBER)])?;
        Ok(numbered.alias(side)?)
    };
    let left = number(left, "__flint_l")?;
    let right = number(right, "__flint_r")?;
    let side = |qualifier: &str, name: &str| col(Column::new(Some(qualifier), name));
    let mut on: Vec<Expr> = names
        .iter()
        .map(|n| {
            datafusion::logical_expr::binary_expr(
                side("__flint_l", n),
                datafusion::logical_expr::Operator::IsNotDistinctFrom,
                side("__flint_r", n),
            )
        })
        .collect();
    on.push(side("__flint_l", NUMBER).eq(side("__flint_r", NUMBER)));
    let join_type = if keep {
        JoinType::LeftSemi
    } else {
        JoinType::LeftAnti
    };
    let joined = left.join_on(right, join_type, on)?;
    let output: Vec<Expr> = names
        .iter()
        .map(|n| side("__flint_l", n).alias(n))
        .collect();
    Ok(joined.select(output)?)
}

/// Whether a `fillna`/`replace` value applies to a column of `data_type` (Spark fills
/// numeric columns with numbers, strings with strings, booleans with booleans).
fn literal_fits(value: &spark_connect::expression::Literal, data_type: &DataType) -> bool {
    use spark_connect::expression::literal::LiteralType as L;
    match &value.literal_type {
        Some(L::String(_)) => matches!(
            data_type,
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
        ),
        Some(L::Boolean(_)) => matches!(data_type, DataType::Boolean),
        Some(
            L::Integer(_)
            | L::Long(_)
            | L::Short(_)
            | L::Byte(_)
            | L::Float(_)
            | L::Double(_)
            | L::Decimal(_),
        ) => data_type.is_numeric(),
        Some(L::Null(_)) => true,
        _ => false,
    }
}

fn strip_aliases(exprs: Vec<Expr>) -> Vec<Expr> {
    exprs.into_iter().map(|e| e.unalias()).collect()
}

/// Whether two join inputs share a column qualifier (or have unqualified columns), so that
/// their columns could not be told apart.
fn qualifiers_clash(left: &DFSchema, right: &DFSchema) -> bool {
    let qualifiers = |schema: &DFSchema| -> Vec<Option<String>> {
        schema
            .iter()
            .map(|(q, _)| q.map(|q| q.to_string()))
            .collect()
    };
    let left = qualifiers(left);
    let right = qualifiers(right);
    left.iter().chain(&right).any(Option::is_none) || left.iter().any(|q| right.contains(q))
}

/// The one qualifier every column of a schema has, if so.
fn single_qualifier(schema: &DFSchema) -> Option<String> {
    let mut qualifiers = schema.iter().map(|(q, _)| q.map(|q| q.table().to_string()));
    let first = qualifiers.next()??;
    qualifiers
        .all(|q| q.as_deref() == Some(first.as_str()))
        .then_some(first)
}

/// A value read back from a batch as a SQL literal, with its display name.
fn scalar_sql(value: &ScalarValue) -> (String, String) {
    if value.is_null() {
        return ("NULL".into(), "null".into());
    }
    match value {
        ScalarValue::Utf8(Some(s))
        | ScalarValue::LargeUtf8(Some(s))
        | ScalarValue::Utf8View(Some(s)) => (string_literal(s), s.clone()),
        ScalarValue::Int64(Some(v)) => (format!("({v}L)"), v.to_string()),
        ScalarValue::Boolean(_)
        | ScalarValue::Int8(_)
        | ScalarValue::Int16(_)
        | ScalarValue::Int32(_)
        | ScalarValue::UInt8(_)
        | ScalarValue::UInt16(_)
        | ScalarValue::UInt32(_) => (format!("({value})"), value.to_string()),
        other => {
            let text = other.to_string();
            let type_name = flint_sql::functions::spark_type_name(&other.data_type());
            (
                format!("CAST({} AS {type_name})", string_literal(&text)),
                text,
            )
        }
    }
}

/// A schema given as a DDL string (`a INT, b STRING`) or as Spark's JSON.
pub fn schema_from_text(text: &str) -> Result<SchemaRef, ConnectError> {
    let data_type = if text.trim_start().starts_with('{') {
        crate::types::from_json_schema(text)?
    } else {
        flint_sql::ddl::parse_ddl(text).map_err(|e| ConnectError::Parse(e.to_string()))?
    };
    match data_type {
        DataType::Struct(fields) => Ok(Arc::new(Schema::new(fields))),
        other => Ok(Arc::new(Schema::new(vec![Field::new(
            "value", other, true,
        )]))),
    }
}

/// A client's timestamps are instants; Flint holds wall-clock times in the session time zone
/// (see `flint_sql::functions::timezone`), so each zoned timestamp column is converted.
fn zone_less_timestamps(
    schema: SchemaRef,
    batches: Vec<RecordBatch>,
    zone: &flint_sql::functions::timezone::Zone,
) -> Result<(SchemaRef, Vec<RecordBatch>), ConnectError> {
    use flint_sql::functions::timezone::instants_to_wall;
    if !schema
        .fields()
        .iter()
        .any(|f| matches!(f.data_type(), DataType::Timestamp(_, Some(_))))
    {
        return Ok((schema, batches));
    }
    let target = DataType::Timestamp(TimeUnit::Microsecond, None);
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .map(|f| match f.data_type() {
            DataType::Timestamp(_, Some(_)) => f.as_ref().clone().with_data_type(target.clone()),
            _ => f.as_ref().clone(),
        })
        .collect();
    let new_schema = Arc::new(Schema::new(fields));
    let batches = batches
        .into_iter()
        .map(|batch| {
            let columns = batch
                .columns()
                .iter()
                .map(|column| match column.data_type() {
                    DataType::Timestamp(_, Some(_)) => instants_to_wall(column, zone),
                    _ => Ok(Arc::clone(column)),
                })
                .collect::<Result<Vec<_>, _>>()?;
            let rows = RecordBatchOptions::new().with_row_count(Some(batch.num_rows()));
            Ok(RecordBatch::try_new_with_options(
                Arc::clone(&new_schema),
                columns,
                &rows,
            )?)
        })
        .collect::<Result<Vec<_>, datafusion::error::DataFusionError>>()?;
    Ok((new_schema, batches))
}

fn relation_name(kind: &RelType) -> String {
    let name = crate::variant_name(kind);
    // CamelCase to the proto's snake_case field name.
    let mut out = String::new();
    for (i, c) in name.chars().enumerate() {
        if c.is_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(c.to_ascii_lowercase());
    }
    out
}

/// `grouping_id()` among an aggregation's columns is `grouping_id` of every grouping column
/// (still named `grouping_id()`, as Spark names it).
fn grouping_id_of_group(
    expression: &spark_connect::Expression,
    groups: &[spark_connect::Expression],
) -> spark_connect::Expression {
    use spark_connect::expression::{Alias, ExprType};
    match &expression.expr_type {
        Some(ExprType::UnresolvedFunction(function))
            if function.function_name.eq_ignore_ascii_case("grouping_id")
                && function.arguments.is_empty()
                && !groups.is_empty() =>
        {
            // DataFusion's `grouping` of several columns is Spark's bit vector; it must be
            // the aggregate expression itself (a cast around it is not resolved), so it stays
            // DataFusion's `int` rather than Spark's `bigint`.
            let mut filled = function.clone();
            filled.function_name = "grouping".into();
            filled.arguments = groups.to_vec();
            spark_connect::Expression {
                common: expression.common.clone(),
                expr_type: Some(ExprType::Alias(Box::new(Alias {
                    expr: Some(Box::new(spark_connect::Expression {
                        common: None,
                        expr_type: Some(ExprType::UnresolvedFunction(filled)),
                    })),
                    name: vec!["grouping_id()".into()],
                    metadata: None,
                }))),
            }
        }
        _ => expression.clone(),
    }
}

#[cfg(test)]
mod fuzz {
    //! Whole Connect plans through the planner: any tree of ranges, SQL text, projections,
    //! filters and limits over any expressions (literals, columns, functions by any name,
    //! SQL text, aliases) is planned and run, or refused with an error; never a panic.
    use proptest::prelude::*;
    use spark_connect::expression::{self, ExprType, Literal, literal::LiteralType};
    use spark_connect::{Filter, Limit, Project, Range, Sql};

    use super::*;

    fn relation_of(rel_type: RelType) -> Relation {
        Relation {
            rel_type: Some(rel_type),
            ..Default::default()
        }
    }

    fn expression_of(expr_type: ExprType) -> Expression {
        Expression {
            expr_type: Some(expr_type),
            ..Default::default()
        }
    }

    fn any_expression() -> impl Strategy<Value = Expression> {
        let leaf = prop_oneof![
            any::<i32>().prop_map(|n| expression_of(ExprType::Literal(Literal {
                literal_type: Some(LiteralType::Integer(n)),
                ..Default::default()
            }))),
            prop_oneof![Just("id".to_string()), "[a-z`.]{1,4}"].prop_map(|name| {
                expression_of(ExprType::UnresolvedAttribute(
                    expression::UnresolvedAttribute {
                        unparsed_identifier: name,
                        ..Default::default()
                    },
                ))
            }),
            prop_oneof![
                3 => prop::sample::select(vec![
                    "id + 1",
                    "id % 3",
                    "upper('a')",
                    "id > 2",
                    "CASE WHEN id > 1 THEN 'a' ELSE NULL END",
                    "cast(id AS string)",
                    "sum(id)",
                    "1 / 0",
                    "named_struct('a', id).a",
                    "array(id, 2)[0]",
                ])
                .prop_map(String::from),
                1 => "[ -~]{0,24}",
            ]
            .prop_map(|text| expression_of(ExprType::ExpressionString(
                expression::ExpressionString { expression: text }
            ))),
        ];
        leaf.prop_recursive(3, 16, 3, |inner| {
            prop_oneof![
                (
                    prop::sample::select(vec![
                        "+", "-", "*", "/", "%", "=", "<", "and", "or", "not", "abs", "sum",
                        "count", "concat", "coalesce", "when", "isnull", "no_such",
                    ]),
                    prop::collection::vec(inner.clone(), 0..3),
                    any::<bool>(),
                )
                    .prop_map(|(name, arguments, is_distinct)| expression_of(
                        ExprType::UnresolvedFunction(expression::UnresolvedFunction {
                            function_name: name.to_string(),
                            arguments,
                            is_distinct,
                            ..Default::default()
                        })
                    )),
                (inner, "[a-z]{0,3}").prop_map(|(expr, name)| expression_of(ExprType::Alias(
                    Box::new(expression::Alias {
                        expr: Some(Box::new(expr)),
                        name: vec![name],
                        metadata: None,
                    })
                ))),
            ]
        })
    }

    fn any_relation() -> impl Strategy<Value = Relation> {
        let leaf = prop_oneof![
            (-5i64..40, prop::sample::select(vec![1i64, 1, 2, -1, 0])).prop_map(|(end, step)| {
                relation_of(RelType::Range(Range {
                    start: None,
                    end,
                    step,
                    num_partitions: Some(2),
                }))
            }),
            prop_oneof![
                3 => prop::sample::select(vec![
                    "SELECT 1 AS id",
                    "SELECT id, id * 2 AS twice FROM range(7)",
                    "SELECT id FROM range(10) WHERE id % 2 = 0",
                    "SELECT count(*) AS id FROM range(100) GROUP BY id % 3",
                    "SELECT CAST(NULL AS INT) AS id",
                ])
                .prop_map(String::from),
                1 => "[ -~]{0,32}",
            ]
            .prop_map(|query| relation_of(RelType::Sql(Sql {
                query,
                ..Default::default()
            }))),
        ];
        leaf.prop_recursive(4, 12, 2, |inner| {
            prop_oneof![
                (inner.clone(), prop::collection::vec(any_expression(), 0..3)).prop_map(
                    |(input, expressions)| relation_of(RelType::Project(Box::new(Project {
                        input: Some(Box::new(input)),
                        expressions,
                    })))
                ),
                (inner.clone(), any_expression()).prop_map(|(input, condition)| relation_of(
                    RelType::Filter(Box::new(Filter {
                        input: Some(Box::new(input)),
                        condition: Some(condition),
                    }))
                )),
                (inner, -2i32..10).prop_map(|(input, limit)| relation_of(RelType::Limit(
                    Box::new(Limit {
                        input: Some(Box::new(input)),
                        limit,
                    })
                ))),
            ]
        })
    }

    /// One local session and runtime for every case.
    fn session() -> &'static (tokio::runtime::Runtime, flint::SparkSession) {
        static SESSION: std::sync::OnceLock<(tokio::runtime::Runtime, flint::SparkSession)> =
            std::sync::OnceLock::new();
        SESSION.get_or_init(|| {
            // The driver's runtime: worker threads with 32 MiB stacks (flint-cli's main.rs).
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .thread_stack_size(32 << 20)
                .enable_all()
                .build()
                .unwrap();
            let spark = runtime
                .block_on(
                    flint::SparkSession::builder()
                        .master("local[1]")
                        .app_name("connect-fuzz")
                        .config("spark.ui.enabled", "false")
                        .config("spark.ui.showConsoleProgress", "false")
                        .create(),
                )
                .unwrap();
            (runtime, spark)
        })
    }

    proptest! {
        #[test]
        fn any_plan_is_planned_and_run_or_refused(relation in any_relation()) {
            let (runtime, spark) = session();
            // On a worker thread: its stack is the size the driver's are.
            let planned = runtime.spawn(async move {
                let mut planner = Planner::new(spark);
                if let Ok(df) = planner.dataframe(&relation, "fuzz").await {
                    let _ = df.collect().await;
                }
            });
            prop_assert!(runtime.block_on(planned).is_ok(), "the planner panicked");
        }
    }
}
