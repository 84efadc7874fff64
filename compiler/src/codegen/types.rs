//! Rust types from a tool's JSON Schema parameters.
//!
//! | JSON Schema | Rust |
//! |---|---|
//! | `object` with `properties` | a struct (nested objects: nested structs, named after the path) |
//! | `object` without `properties` | `serde_json::Map<String, serde_json::Value>` |
//! | `string` with an `enum` of strings | an enum, each variant renamed to its value |
//! | `string`, `integer`, `number`, `boolean` | `String`, `i64`, `f64`, `bool` |
//! | `array` | `Vec<T>` of its `items` (`serde_json::Value` without `items`) |
//! | anything else | `serde_json::Value` |
//!
//! A property that is not `required` is an `Option`, unless it has a `default` of its own type:
//! then the field has that type and serde fills in the default. Descriptions become doc
//! comments; other keywords (`pattern`, `minimum`, ...) are listed in the field's docs. Field and
//! variant names are Rust-cased and keep the JSON name with `#[serde(rename)]`.

use super::names::{camel_case, snake_case, Namespace};
use proc_macro2::{Literal, TokenStream};
use quote::{format_ident, quote};
use serde_json::{Map, Value};

/// The keywords listed in a field's docs, in this order.
const LISTED_KEYWORDS: &[&str] = &[
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "minLength",
    "maxLength",
    "pattern",
    "format",
    "minItems",
    "maxItems",
];

/// Generates the types of one module; names come from the module's namespace.
pub struct TypeGen<'a> {
    names: &'a mut Namespace,
    /// Items in the order they read best: each struct before the types it uses.
    pub items: Vec<TokenStream>,
}

/// What a schema became.
enum Ty {
    String,
    Integer,
    Number,
    Boolean,
    /// A generated enum and its variants by JSON value.
    Enum(proc_macro2::Ident, Vec<(String, proc_macro2::Ident)>),
    Other,
}

impl<'a> TypeGen<'a> {
    pub fn new(names: &'a mut Namespace) -> Self {
        TypeGen {
            names,
            items: Vec::new(),
        }
    }

    /// Generates the struct `name` (already claimed) for an object schema, and every type it
    /// uses; those are named `prefix` and the property's name (`RefundReason` for the property
    /// `reason` of `RefundArgs`).
    pub fn object(
        &mut self,
        name: &str,
        prefix: &str,
        docs: &[String],
        schema: &Map<String, Value>,
    ) {
        let start = self.items.len();
        let ident = format_ident!("{name}");
        let required: Vec<&str> = schema
            .get("required")
            .and_then(Value::as_array)
            .map(|r| r.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let empty = Map::new();
        let properties = schema
            .get("properties")
            .and_then(Value::as_object)
            .unwrap_or(&empty);
        let mut fields = Namespace::default();
        let mut field_tokens = Vec::new();
        let mut defaults = Vec::new();
        for (json_name, property) in properties {
            let field_name = fields.claim(&snake_case(json_name, "field"), "_");
            let field = format_ident!("{field_name}");
            let (ty, kind) = self.type_of(&format!("{prefix}{}", camel_case(json_name)), property);
            let mut attrs = Vec::new();
            if field_name != *json_name {
                attrs.push(quote!(rename = #json_name));
            }
            let default = property.get("default");
            let mut field_docs = description(property);
            let listed = listed_keywords(property);
            if !listed.is_empty() {
                push_paragraph(&mut field_docs, format!("JSON Schema: {listed}."));
            }
            let is_required = required.contains(&json_name.as_str());
            let ty = match default.and_then(|d| default_expr(&kind, d)) {
                Some(expr) if !is_required => {
                    let function = format_ident!("default_{field_name}");
                    let path = format!("{name}::{function}");
                    attrs.push(quote!(default = #path));
                    defaults.push(quote! {
                        fn #function() -> #ty {
                            #expr
                        }
                    });
                    push_paragraph(&mut field_docs, format!("Default: `{}`.", compact(default)));
                    ty
                }
                _ if is_required => ty,
                _ => {
                    attrs.push(quote!(default));
                    if let Some(default) = default {
                        push_paragraph(
                            &mut field_docs,
                            format!(
                                "`None` stands for the default, `{}`.",
                                compact(Some(default))
                            ),
                        );
                    }
                    quote!(::core::option::Option<#ty>)
                }
            };
            let doc = doc_attrs(&field_docs);
            let serde = if attrs.is_empty() {
                quote!()
            } else {
                quote!(#[serde(#(#attrs),*)])
            };
            field_tokens.push(quote! {
                #doc
                #serde
                pub #field: #ty
            });
        }
        let doc = doc_attrs(docs);
        let defaults = if defaults.is_empty() {
            quote!()
        } else {
            quote! {
                impl #ident {
                    #(#defaults)*
                }
            }
        };
        let item = quote! {
            #doc
            #[derive(Debug, Clone, PartialEq, ::serde::Deserialize)]
            pub struct #ident {
                #(#field_tokens),*
            }
            #defaults
        };
        self.items.insert(start, item);
    }

    /// The Rust type of a schema; `name` is what a type generated for it is called.
    fn type_of(&mut self, name: &str, schema: &Value) -> (TokenStream, Ty) {
        let strings: Option<Vec<String>> =
            schema
                .get("enum")
                .and_then(Value::as_array)
                .and_then(|values| {
                    values
                        .iter()
                        .map(|v| v.as_str().map(str::to_owned))
                        .collect()
                });
        let kind = schema.get("type").and_then(Value::as_str);
        match (kind, strings) {
            (Some("string") | None, Some(values)) => {
                let (ident, variants) = self.string_enum(name, &description(schema), &values);
                (quote!(#ident), Ty::Enum(ident, variants))
            }
            (Some("string"), None) => (quote!(::std::string::String), Ty::String),
            (Some("integer"), _) => (quote!(i64), Ty::Integer),
            (Some("number"), _) => (quote!(f64), Ty::Number),
            (Some("boolean"), _) => (quote!(bool), Ty::Boolean),
            (Some("array"), _) => {
                let item = match schema.get("items") {
                    Some(items) if items.is_object() => {
                        self.type_of(&format!("{name}Item"), items).0
                    }
                    _ => quote!(::serde_json::Value),
                };
                (quote!(::std::vec::Vec<#item>), Ty::Other)
            }
            (Some("object"), _) => match schema.as_object() {
                Some(object) if object.get("properties").is_some_and(Value::is_object) => {
                    let claimed = self.names.claim(name, "");
                    self.object(&claimed, &claimed, &description(schema), object);
                    let ident = format_ident!("{claimed}");
                    (quote!(#ident), Ty::Other)
                }
                _ => (
                    quote!(::serde_json::Map<::std::string::String, ::serde_json::Value>),
                    Ty::Other,
                ),
            },
            _ => (quote!(::serde_json::Value), Ty::Other),
        }
    }

    /// An enum with one variant per string value.
    fn string_enum(
        &mut self,
        name: &str,
        docs: &[String],
        values: &[String],
    ) -> (proc_macro2::Ident, Vec<(String, proc_macro2::Ident)>) {
        let ident = format_ident!("{}", self.names.claim(name, ""));
        let mut variant_names = Namespace::default();
        let variants: Vec<(String, proc_macro2::Ident)> = values
            .iter()
            .map(|value| {
                let camel = camel_case(value);
                let wanted = match camel.chars().next() {
                    None => "Value".to_owned(),
                    Some(c) if c.is_ascii_digit() => format!("V{camel}"),
                    Some(_) => camel,
                };
                (
                    value.clone(),
                    format_ident!("{}", variant_names.claim(&wanted, "")),
                )
            })
            .collect();
        let tokens = variants.iter().map(|(value, variant)| {
            quote! {
                #[serde(rename = #value)]
                #variant
            }
        });
        let doc = doc_attrs(docs);
        self.items.push(quote! {
            #doc
            #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, ::serde::Deserialize)]
            #[allow(clippy::enum_variant_names)]
            pub enum #ident {
                #(#tokens),*
            }
        });
        (ident, variants)
    }
}

/// The expression of a default value of a field's type; `None` when the value does not have the
/// type (the field is then an `Option`).
fn default_expr(kind: &Ty, value: &Value) -> Option<TokenStream> {
    match (kind, value) {
        (Ty::String, Value::String(s)) => Some(quote!(::std::string::String::from(#s))),
        (Ty::Integer, Value::Number(n)) => {
            let literal = Literal::i64_suffixed(n.as_i64()?);
            Some(quote!(#literal))
        }
        (Ty::Number, Value::Number(n)) => {
            let literal = Literal::f64_suffixed(n.as_f64()?);
            Some(quote!(#literal))
        }
        (Ty::Boolean, Value::Bool(b)) => Some(quote!(#b)),
        (Ty::Enum(ident, variants), Value::String(s)) => {
            let (_, variant) = variants.iter().find(|(value, _)| value == s)?;
            Some(quote!(#ident::#variant))
        }
        _ => None,
    }
}

/// A schema's description as lines.
fn description(schema: &Value) -> Vec<String> {
    schema
        .get("description")
        .and_then(Value::as_str)
        .map(doc_lines)
        .unwrap_or_default()
}

/// Text as doc comment lines, without trailing space or blank lines at either end.
pub fn doc_lines(text: &str) -> Vec<String> {
    let lines: Vec<String> = text.lines().map(|l| l.trim_end().to_owned()).collect();
    let first = lines.iter().position(|l| !l.is_empty());
    let last = lines.iter().rposition(|l| !l.is_empty());
    match (first, last) {
        (Some(first), Some(last)) => lines[first..=last].to_vec(),
        _ => Vec::new(),
    }
}

/// Adds a paragraph to doc lines.
pub fn push_paragraph(docs: &mut Vec<String>, text: String) {
    if !docs.is_empty() {
        docs.push(String::new());
    }
    docs.push(text);
}

/// `#[doc]` attributes, one per line (prettyplease prints them as `///` comments).
pub fn doc_attrs(lines: &[String]) -> TokenStream {
    let attrs = lines.iter().map(|line| {
        let text = if line.is_empty() {
            String::new()
        } else {
            format!(" {line}")
        };
        quote!(#[doc = #text])
    });
    quote!(#(#attrs)*)
}

/// The validation keywords of a schema, as `` `maxLength: 120`, `pattern: "^a$"` ``.
fn listed_keywords(schema: &Value) -> String {
    let mut listed: Vec<String> = LISTED_KEYWORDS
        .iter()
        .filter_map(|key| Some(format!("`{key}: {}`", compact(Some(schema.get(*key)?)))))
        .collect();
    if let Some(values) = schema.get("enum").and_then(Value::as_array) {
        if !values.iter().all(Value::is_string) {
            listed.push(format!("`enum: {}`", compact(schema.get("enum"))));
        }
    }
    listed.join(", ")
}

/// A JSON value as compact text, with backticks replaced so it stays inside a code span.
fn compact(value: Option<&Value>) -> String {
    value
        .map(Value::to_string)
        .unwrap_or_default()
        .replace('`', "'")
}
