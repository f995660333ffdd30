//! Spark's session catalog: each session's temporary views over the application's managed
//! tables (Spark's in-memory catalog: `spark_catalog.default`, data under
//! `spark.sql.warehouse.dir`). Tables made by `saveAsTable` or `CREATE TABLE ... USING` are
//! seen by every session of the application; a session's views shadow them. Names are
//! case-insensitive, as Spark's are by default: views are kept under their lowercased name.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::{MemorySchemaProvider, SchemaProvider, Session, TableProvider};
use datafusion::datasource::file_format::csv::CsvFormat;
use datafusion::datasource::file_format::json::JsonFormat;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::error::{DataFusionError, Result};

use crate::path_tables::FileFormat;

/// The application's managed tables: name → data directory and format.
#[derive(Debug)]
pub(crate) struct ManagedTables {
    warehouse: PathBuf,
    tables: MemorySchemaProvider,
    locations: Mutex<HashMap<String, (PathBuf, FileFormat)>>,
}

impl ManagedTables {
    /// Tables whose data live under `warehouse` (`spark.sql.warehouse.dir`).
    pub(crate) fn new(warehouse: PathBuf) -> Self {
        Self {
            warehouse,
            tables: MemorySchemaProvider::new(),
            locations: Mutex::new(HashMap::new()),
        }
    }

    /// Where a table's files go: `<warehouse>/<name>`.
    pub(crate) fn location(&self, name: &str) -> PathBuf {
        self.warehouse.join(name.to_ascii_lowercase())
    }

    /// The directory and format of a managed table.
    pub(crate) fn get(&self, name: &str) -> Option<(PathBuf, FileFormat)> {
        self.locations
            .lock()
            .ok()?
            .get(&name.to_ascii_lowercase())
            .cloned()
    }

    /// The names of the managed tables, sorted.
    pub(crate) fn names(&self) -> Vec<String> {
        let mut names = self.tables.table_names();
        names.sort();
        names
    }

    /// Registers the files under the table's directory as the table `name` (created empty
    /// when missing); `schema` is given for a new table, else read from the files.
    pub(crate) async fn register(
        &self,
        state: &dyn Session,
        name: &str,
        format: FileFormat,
        schema: Option<SchemaRef>,
    ) -> Result<()> {
        let name = name.to_ascii_lowercase();
        let directory = self.location(&name);
        std::fs::create_dir_all(&directory).map_err(|e| {
            DataFusionError::Execution(format!("cannot create {}: {e}", directory.display()))
        })?;
        let url = ListingTableUrl::parse(format!("{}/", directory.display()))?;
        let options = match format {
            FileFormat::Parquet => ListingOptions::new(Arc::new(ParquetFormat::default()))
                .with_file_extension(".parquet"),
            FileFormat::Csv => {
                ListingOptions::new(Arc::new(CsvFormat::default().with_has_header(true)))
                    .with_file_extension(".csv")
            }
            FileFormat::Json => {
                ListingOptions::new(Arc::new(JsonFormat::default())).with_file_extension(".json")
            }
            FileFormat::Text => {
                return Err(DataFusionError::NotImplemented(
                    "[DATA_SOURCE_NOT_FOUND] Failed to find the data source: TEXT. Flint's tables are parquet, csv or json; read text files with spark.read.text".into(),
                ));
            }
        };
        let schema = match schema {
            Some(schema) => schema,
            None => options.infer_schema(state, &url).await?,
        };
        let config = ListingTableConfig::new(url)
            .with_listing_options(options)
            .with_schema(schema);
        let table = Arc::new(ListingTable::try_new(config)?);
        self.tables.deregister_table(&name)?;
        self.tables.register_table(name.clone(), table)?;
        if let Ok(mut locations) = self.locations.lock() {
            locations.insert(name, (directory, format));
        }
        Ok(())
    }

    /// Forgets a managed table and deletes its files (Spark's `DROP TABLE` of a managed table).
    pub(crate) fn drop_table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        let name = name.to_ascii_lowercase();
        let table = self.tables.deregister_table(&name)?;
        let location = self.locations.lock().ok().and_then(|mut l| l.remove(&name));
        if let Some((directory, _)) = location {
            remove_dir(&directory)?;
        }
        Ok(table)
    }
}

/// Deletes a directory and what it holds, if it exists.
pub(crate) fn remove_dir(directory: &Path) -> Result<()> {
    match std::fs::remove_dir_all(directory) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(DataFusionError::Execution(format!(
            "cannot delete {}: {e}",
            directory.display()
        ))),
    }
}

/// A session's default schema: its temporary views, then the application's managed tables.
#[derive(Debug)]
pub(crate) struct SessionSchema {
    views: MemorySchemaProvider,
    tables: Arc<ManagedTables>,
}

impl SessionSchema {
    pub(crate) fn new(tables: Arc<ManagedTables>) -> Self {
        Self {
            views: MemorySchemaProvider::new(),
            tables,
        }
    }

    /// The names of the temporary views.
    pub(crate) fn view_names(&self) -> Vec<String> {
        self.views.table_names()
    }

    /// Drops a temporary view only (Spark's `dropTempView`); whether it existed.
    pub(crate) fn drop_view(&self, name: &str) -> Result<bool> {
        Ok(self
            .views
            .deregister_table(&name.to_ascii_lowercase())?
            .is_some())
    }
}

#[async_trait]
impl SchemaProvider for SessionSchema {
    fn table_names(&self) -> Vec<String> {
        let mut names = self.views.table_names();
        for name in self.tables.names() {
            if !names.contains(&name) {
                names.push(name);
            }
        }
        names
    }

    async fn table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        let name = name.to_ascii_lowercase();
        if let Some(view) = self.views.table(&name).await? {
            return Ok(Some(view));
        }
        self.tables.tables.table(&name).await
    }

    /// Registers a temporary view, replacing a view of that name; a managed table of that
    /// name is shadowed, never dropped.
    fn register_table(
        &self,
        name: String,
        table: Arc<dyn TableProvider>,
    ) -> Result<Option<Arc<dyn TableProvider>>> {
        let name = name.to_ascii_lowercase();
        let replaced = self.views.deregister_table(&name)?;
        self.views.register_table(name, table)?;
        Ok(replaced)
    }

    fn deregister_table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        if let Some(view) = self.views.deregister_table(&name.to_ascii_lowercase())? {
            return Ok(Some(view));
        }
        self.tables.drop_table(name)
    }

    fn table_exist(&self, name: &str) -> bool {
        let name = name.to_ascii_lowercase();
        self.views.table_exist(&name) || self.tables.tables.table_exist(&name)
    }
}

/// Spark's global temporary views: one `global_temp` database per application, seen by every
/// session (`createGlobalTempView`, `SELECT * FROM global_temp.name`); gone when the
/// application ends. Names are case-insensitive.
#[derive(Debug, Default)]
pub(crate) struct GlobalTempViews {
    views: MemorySchemaProvider,
}

impl GlobalTempViews {
    /// Registers a view; an existing one of that name is an error unless `replace`.
    pub(crate) fn create(
        &self,
        name: &str,
        view: Arc<dyn TableProvider>,
        replace: bool,
    ) -> Result<()> {
        let name = name.to_ascii_lowercase();
        if self.views.table_exist(&name) {
            if !replace {
                return Err(DataFusionError::Plan(format!(
                    "[TEMP_TABLE_OR_VIEW_ALREADY_EXISTS] Cannot create the temporary view `global_temp`.`{name}` because it already exists. SQLSTATE: 42P07"
                )));
            }
            self.views.deregister_table(&name)?;
        }
        self.views.register_table(name, view)?;
        Ok(())
    }

    /// Drops a view; whether it existed.
    pub(crate) fn drop_view(&self, name: &str) -> Result<bool> {
        Ok(self
            .views
            .deregister_table(&name.to_ascii_lowercase())?
            .is_some())
    }
}

/// A session's view of the application's [`GlobalTempViews`], as its `global_temp` schema.
#[derive(Debug)]
pub(crate) struct GlobalTempSchema(pub(crate) Arc<GlobalTempViews>);

#[async_trait]
impl SchemaProvider for GlobalTempSchema {
    fn table_names(&self) -> Vec<String> {
        self.0.views.table_names()
    }

    async fn table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        self.0.views.table(&name.to_ascii_lowercase()).await
    }

    fn table_exist(&self, name: &str) -> bool {
        self.0.views.table_exist(&name.to_ascii_lowercase())
    }
}
