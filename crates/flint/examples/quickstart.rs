//! A Flint application to copy: DataFrame calls and SQL over generated data.
//!
//! Run it directly (`cargo run --release -p flint --example quickstart`) or under any master
//! with `flint submit --master 'local[2]' target/release/examples/quickstart`: the master
//! and `--conf` values arrive through the environment.

use flint::functions::{avg, col, count, lit, sum};
use flint::{FlintError, SparkSession};

#[tokio::main]
async fn main() {
    if let Err(error) = run().await {
        eprintln!("error: {error}");
        std::process::exit(1);
    }
}

async fn run() -> Result<(), FlintError> {
    let spark = SparkSession::builder()
        .app_name("quickstart")
        .get_or_create()
        .await?;

    // One million orders spread over 100 customers, as a DataFrame.
    let orders = spark
        .range(1_000_000)
        .await?
        .with_column("customer", col("id") % lit(100))?
        .with_column("amount", (col("id") * lit(7)) % lit(1000))?;

    // A shuffle: totals per customer.
    let totals = orders
        .group_by(vec![col("customer")])
        .agg(vec![
            count(lit(1)).alias("orders"),
            sum(col("amount")).alias("total"),
            avg(col("amount")).alias("average"),
        ])?
        .order_by(vec![col("total").sort(false, true)])?;
    totals.show(5).await?;

    // The same data through SQL.
    orders.create_or_replace_temp_view("orders")?;
    let big = spark.sql("SELECT customer, max(amount) AS largest FROM orders WHERE amount > 990 GROUP BY customer").await?;
    println!("customers with an order above 990: {}", big.count().await?);

    // Write parquet and read it back.
    let dir = std::env::temp_dir().join(format!("flint-quickstart-{}", std::process::id()));
    let path = dir.to_string_lossy().to_string();
    totals.write().mode("overwrite").parquet(&path).await?;
    let back = spark.read().parquet(&path).await?;
    println!("read back {} rows from {path}", back.count().await?);
    let _ = std::fs::remove_dir_all(&dir);

    spark.stop();
    Ok(())
}
