//! The `stock_level` tool of the benchmark's every-feature agent: stock counts from a small
//! in-file table, so the agent has a Rust tool compiled in.

use crate::agents::everything::StockLevelArgs;
use serde::Serialize;

/// What the model gets back about a product.
#[derive(Debug, Serialize)]
pub struct Stock {
    pub sku: String,
    pub warehouse: String,
    pub in_stock: u32,
}

const STOCK: &[(&str, u32)] = &[("ABC-123", 12), ("XYZ-999", 0)];

/// How many of `args.sku` are in stock.
pub async fn lookup(args: StockLevelArgs) -> Result<Stock, String> {
    let in_stock = STOCK
        .iter()
        .find(|(sku, _)| *sku == args.sku)
        .map(|(_, n)| *n)
        .ok_or_else(|| format!("no product {}", args.sku))?;
    Ok(Stock {
        sku: args.sku,
        warehouse: args.warehouse.unwrap_or_else(|| "main".to_owned()),
        in_stock,
    })
}
