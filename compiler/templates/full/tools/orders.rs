//! The `lookup_order` tool of `agents/showcase.yaml`. agentc compiles this file into the Worker as
//! `crate::tools::orders`: the function takes the tool's generated argument type and returns
//! `Result<T, E>`, `T: Serialize` being the JSON the model reads and `E: Display` the error it
//! reads. A real tool would ask a service or a database.

use crate::agents::showcase::LookupOrderArgs;
use serde::Serialize;

/// What the model gets back about an order.
#[derive(Debug, Serialize)]
pub struct Order {
    pub order_id: String,
    pub status: &'static str,
}

/// Looks an order up in a small in-file table.
pub async fn lookup(args: LookupOrderArgs) -> Result<Order, String> {
    let status = match args.order_id.as_str() {
        "100234" => "shipped",
        "100587" => "processing",
        _ => return Err(format!("no order {}", args.order_id)),
    };
    Ok(Order {
        order_id: args.order_id,
        status,
    })
}
