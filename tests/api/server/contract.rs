//! The schema keeps the shape of api-contract.graphql, the API front ends
//! depend on (DESIGN.md): a name the two share means the same there.

use std::collections::HashMap;
use std::path::Path;

use async_graphql::parser::parse_schema;
use async_graphql::parser::types::{
    FieldDefinition, InputValueDefinition, TypeDefinition, TypeKind, TypeSystemDefinition,
};
use async_graphql::parser::Positioned;

/// Type definitions by name, exactly as written: root types are compared
/// by their names too (the contract's are Query, Mutation, Subscription),
/// and a `schema { … }` block naming other roots is refused.
fn types_of(path: &Path) -> HashMap<String, TypeDefinition> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let doc = parse_schema(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut types = HashMap::new();
    for def in doc.definitions {
        match def {
            TypeSystemDefinition::Schema(s) => {
                let s = s.node;
                for (root, contract) in [
                    (s.query, "Query"),
                    (s.mutation, "Mutation"),
                    (s.subscription, "Subscription"),
                ] {
                    if let Some(root) = root {
                        assert_eq!(
                            root.node.as_str(),
                            contract,
                            "{}: root type names",
                            path.display()
                        );
                    }
                }
            }
            TypeSystemDefinition::Type(t) => {
                types.insert(t.node.name.node.to_string(), t.node);
            }
            TypeSystemDefinition::Directive(_) => {}
        }
    }
    types
}

fn optional(v: &InputValueDefinition) -> bool {
    v.ty.node.nullable || v.default_value.is_some()
}

/// Contract inputs (arguments or input fields) must all be in ours with the
/// same type; extra ones of ours must be optional ("Add freely: more
/// arguments with defaults").
fn compare_inputs(
    at: &str,
    ours: &[Positioned<InputValueDefinition>],
    theirs: &[Positioned<InputValueDefinition>],
    problems: &mut Vec<String>,
) {
    for t in theirs {
        match ours.iter().find(|o| o.node.name.node == t.node.name.node) {
            None => problems.push(format!("{at}.{}: missing", t.node.name.node)),
            Some(o) if o.node.ty.node != t.node.ty.node => problems.push(format!(
                "{at}.{}: {} but the contract says {}",
                t.node.name.node, o.node.ty.node, t.node.ty.node
            )),
            Some(_) => {}
        }
    }
    for o in ours {
        if !theirs.iter().any(|t| t.node.name.node == o.node.name.node) && !optional(&o.node) {
            problems.push(format!(
                "{at}.{}: a required input the contract does not have",
                o.node.name.node
            ));
        }
    }
}

fn compare_fields(
    ty: &str,
    ours: &[Positioned<FieldDefinition>],
    theirs: &[Positioned<FieldDefinition>],
    problems: &mut Vec<String>,
) {
    for o in ours {
        let Some(t) = theirs.iter().find(|t| t.node.name.node == o.node.name.node) else {
            continue;
        };
        let at = format!("{ty}.{}", o.node.name.node);
        if o.node.ty.node != t.node.ty.node {
            problems.push(format!(
                "{at}: {} but the contract says {}",
                o.node.ty.node, t.node.ty.node
            ));
        }
        compare_inputs(&at, &o.node.arguments, &t.node.arguments, problems);
    }
}

#[test]
fn every_name_the_schema_shares_with_the_contract_has_the_contract_shape() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let ours = types_of(&root.join("schema.graphql"));
    let contract = types_of(&root.join("tests/api-contract.graphql"));
    let mut problems = Vec::new();
    let mut compared = Vec::new();
    for (name, o) in &ours {
        let Some(t) = contract.get(name) else {
            continue;
        };
        compared.push(name.as_str());
        match (&o.kind, &t.kind) {
            (TypeKind::Object(o), TypeKind::Object(t)) => {
                compare_fields(name, &o.fields, &t.fields, &mut problems)
            }
            // Inputs and enums are checked whole: a client sends every
            // contract field and may receive every contract value.
            (TypeKind::InputObject(o), TypeKind::InputObject(t)) => {
                compare_inputs(name, &o.fields, &t.fields, &mut problems)
            }
            (TypeKind::Enum(o), TypeKind::Enum(t)) => {
                for value in &t.values {
                    if !o
                        .values
                        .iter()
                        .any(|v| v.node.value.node == value.node.value.node)
                    {
                        problems.push(format!(
                            "{name}.{}: enum value missing",
                            value.node.value.node
                        ));
                    }
                }
            }
            (TypeKind::Scalar, TypeKind::Scalar) => {}
            _ => problems.push(format!(
                "{name}: a different kind of type than in the contract"
            )),
        }
    }
    problems.sort();
    for expected in [
        "Query",
        "Mutation",
        "LegalEntity",
        "Contract",
        "CreateContractInput",
        "BillingInterval",
    ] {
        assert!(
            compared.contains(&expected),
            "{expected} is compared with the contract"
        );
    }
    assert!(
        problems.is_empty(),
        "api-contract.graphql: rename or remove nothing:\n{}",
        problems.join("\n")
    );
}
