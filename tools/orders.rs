//! The `lookup_order` tool of `agents/orders.yaml`: order status from a small in-file table.
//!
//! agentc compiles this file into the Worker as `crate::tools::orders` (see the contract in
//! `compiler/src/rust_tool.rs`): the function takes the tool's generated argument type and returns
//! `Result<T, E>` with `T: Serialize` (the tool's JSON result) and `E: Display` (the error the
//! model reads). A real tool would query a service or a database here.

use crate::agents::orders::LookupOrderArgs;
use serde::Serialize;

/// What the model gets back about an order.
#[derive(Debug, Serialize)]
pub struct Order {
    pub order_id: &'static str,
    pub status: &'static str,
    pub carrier: Option<&'static str>,
    pub eta: Option<&'static str>,
    /// Only when the model asked for them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub items: Option<&'static [Item]>,
}

#[derive(Debug, Serialize)]
pub struct Item {
    pub name: &'static str,
    pub quantity: u32,
}

struct Row {
    id: &'static str,
    status: &'static str,
    carrier: Option<&'static str>,
    eta: Option<&'static str>,
    items: &'static [Item],
}

const ORDERS: &[Row] = &[
    Row {
        id: "100234",
        status: "shipped",
        carrier: Some("ParcelCo"),
        eta: Some("2026-05-02"),
        items: &[Item {
            name: "espresso cups",
            quantity: 4,
        }],
    },
    Row {
        id: "100587",
        status: "processing",
        carrier: None,
        eta: None,
        items: &[
            Item {
                name: "grinder",
                quantity: 1,
            },
            Item {
                name: "filters",
                quantity: 2,
            },
        ],
    },
    Row {
        id: "100911",
        status: "delivered",
        carrier: Some("ParcelCo"),
        eta: None,
        items: &[Item {
            name: "kettle",
            quantity: 1,
        }],
    },
];

/// Looks an order up by number.
pub async fn lookup(args: LookupOrderArgs) -> Result<Order, String> {
    let row = ORDERS
        .iter()
        .find(|row| row.id == args.order_id)
        .ok_or_else(|| format!("there is no order {}", args.order_id))?;
    Ok(Order {
        order_id: row.id,
        status: row.status,
        carrier: row.carrier,
        eta: row.eta,
        items: args.include_items.then_some(row.items),
    })
}
