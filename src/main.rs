#[tokio::main]
async fn main() -> anyhow::Result<()> {
    billrun::cli::run().await
}
