//! The nulls the GraphQL spec puts in `data` where fields failed ("Handling Execution
//! Errors"): a failed nullable field is `null`, and a failed non-null field makes its parent
//! `null`, up to the nearest nullable field, or `data` itself.
//!
//! async-graphql 7 instead leaves a failed field out of its object (and makes an object
//! whose every field failed `null`, whatever its type), so a client would find a field it
//! asked for missing. Responses with field errors are mended here, after execution, from
//! each error's path, the operation's selections and the schema's field types: responses
//! without errors, nearly all of them, cost nothing.

use std::{collections::HashMap, sync::LazyLock};

use async_graphql::{
    Name, PathSegment, Response, Value,
    parser::{
        parse_query, parse_schema,
        types::{
            BaseType, ExecutableDocument, OperationType, Selection, SelectionSet, Type, TypeKind, TypeSystemDefinition,
        },
    },
};

/// The type of every field of every object type of the schema.
struct FieldTypes(HashMap<Name, HashMap<Name, Type>>);

impl FieldTypes {
    fn of_schema() -> Self {
        let mut types = HashMap::new();
        let Ok(document) = parse_schema(super::schema::sdl()) else { return Self(types) };
        for definition in document.definitions {
            let TypeSystemDefinition::Type(definition) = definition else { continue };
            let definition = definition.node;
            let fields = match definition.kind {
                TypeKind::Object(object) => object.fields,
                TypeKind::Interface(interface) => interface.fields,
                _ => continue,
            };
            let fields = fields.into_iter().map(|field| (field.node.name.node, field.node.ty.node)).collect();
            types.insert(definition.name.node, fields);
        }
        Self(types)
    }

    fn field(&self, parent: &str, field: &str) -> Option<&Type> {
        self.0.get(parent)?.get(field)
    }
}

static FIELD_TYPES: LazyLock<FieldTypes> = LazyLock::new(FieldTypes::of_schema);

/// Puts the spec's nulls into `response.data` for its field errors, if it has any. `query`
/// is the request's document, parsed again here (few responses have field errors), and
/// `operation_name` the operation it named, if any.
pub fn mend(response: &mut Response, query: &str, operation_name: Option<&str>) {
    if response.errors.iter().all(|error| error.path.is_empty()) {
        return;
    }
    if let Ok(document) = parse_query(query) {
        null_failed_fields(response, &document, operation_name);
    }
}

fn null_failed_fields(response: &mut Response, document: &ExecutableDocument, operation_name: Option<&str>) {
    let Some((root, selections)) = operation(document, operation_name) else { return };
    let mut nulls: Vec<&[PathSegment]> = response
        .errors
        .iter()
        .filter_map(|error| null_at(&error.path, root, selections, document, &FIELD_TYPES))
        .collect();
    // A null higher up holds any below it.
    nulls.sort_by_key(|path| path.len());
    let mut placed: Vec<&[PathSegment]> = Vec::new();
    for path in nulls {
        if placed.iter().any(|above| path.starts_with(above)) {
            continue;
        }
        if place_null(&mut response.data, path) {
            placed.push(path);
        }
    }
}

/// The root type and selections of the operation that ran.
fn operation<'a>(document: &'a ExecutableDocument, name: Option<&str>) -> Option<(&'static str, &'a SelectionSet)> {
    let operation = super::selected_operation(document, name)?;
    let root = match operation.ty {
        OperationType::Query => "Query",
        OperationType::Mutation => "Mutation",
        OperationType::Subscription => "Subscription",
    };
    Some((root, &operation.selection_set.node))
}

/// Where the null for a field that failed at `path` goes: the field itself if nullable,
/// else the nearest nullable field or list item above it (the empty path: `data`). `None`
/// when the path does not lead through the operation's selections (nothing is changed).
fn null_at<'p>(
    path: &'p [PathSegment],
    root: &str,
    selections: &SelectionSet,
    document: &ExecutableDocument,
    types: &FieldTypes,
) -> Option<&'p [PathSegment]> {
    // Whether the value at each depth of the path may be null.
    let mut nullable = Vec::with_capacity(path.len());
    let mut parent: Name = Name::new(root);
    let mut selections = selections;
    let mut current: Option<&Type> = None;
    for segment in path {
        match segment {
            PathSegment::Field(key) => {
                let (on, field_name, field_selections) = find_field(selections, &parent, key, document)?;
                let ty = types.field(&on, &field_name)?;
                nullable.push(ty.nullable);
                parent = named_type(ty).clone();
                selections = field_selections;
                current = Some(ty);
            }
            PathSegment::Index(_) => {
                let BaseType::List(item) = &current?.base else { return None };
                nullable.push(item.nullable);
                current = Some(item);
            }
        }
    }
    let depth = nullable.iter().rposition(|&nullable| nullable).map_or(0, |at| at + 1);
    Some(&path[..depth])
}

/// The field answering to response key `key` among `selections` on type `parent`: the type
/// it is defined on, its name and its own selections. Fragments are followed.
fn find_field<'a>(
    selections: &'a SelectionSet,
    parent: &Name,
    key: &str,
    document: &'a ExecutableDocument,
) -> Option<(Name, Name, &'a SelectionSet)> {
    for selection in &selections.items {
        let found = match &selection.node {
            Selection::Field(field) if field.node.response_key().node == key => {
                Some((parent.clone(), field.node.name.node.clone(), &field.node.selection_set.node))
            }
            Selection::Field(_) => None,
            Selection::InlineFragment(fragment) => {
                let on = fragment.node.type_condition.as_ref().map_or(parent, |condition| &condition.node.on.node);
                find_field(&fragment.node.selection_set.node, on, key, document)
            }
            Selection::FragmentSpread(spread) => {
                let fragment = document.fragments.get(&spread.node.fragment_name.node)?;
                find_field(&fragment.node.selection_set.node, &fragment.node.type_condition.node.on.node, key, document)
            }
        };
        if found.is_some() {
            return found;
        }
    }
    None
}

fn named_type(ty: &Type) -> &Name {
    match &ty.base {
        BaseType::Named(name) => name,
        BaseType::List(item) => named_type(item),
    }
}

/// Sets the value at `path` of `data` to null; the empty path nulls `data` itself. On the
/// way down, an object left out or made `null` because its fields failed is made anew.
/// Returns false when the path does not fit the data.
fn place_null(data: &mut Value, path: &[PathSegment]) -> bool {
    let mut value = data;
    for segment in path {
        let child = match (segment, value) {
            (PathSegment::Field(key), value) => {
                object_of(value).map(|object| object.entry(Name::new(key)).or_insert(Value::Null))
            }
            (PathSegment::Index(index), Value::List(items)) => items.get_mut(*index),
            (PathSegment::Index(_), _) => None,
        };
        let Some(child) = child else { return false };
        value = child;
    }
    *value = Value::Null;
    true
}

/// The object `value` holds, making `null` (an object whose fields all failed) an empty one.
fn object_of(value: &mut Value) -> Option<&mut async_graphql::indexmap::IndexMap<Name, Value>> {
    if matches!(value, Value::Null) {
        *value = Value::Object(Default::default());
    }
    match value {
        Value::Object(object) => Some(object),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use async_graphql::{ServerError, value};

    use super::*;

    fn failed(data: Value, query: &str, paths: &[&[PathSegment]]) -> Value {
        let mut response = Response::new(data);
        for path in paths {
            let mut error = ServerError::new("failed", None);
            error.path = path.to_vec();
            response.errors.push(error);
        }
        mend(&mut response, query, None);
        response.data
    }

    fn field(key: &str) -> PathSegment {
        PathSegment::Field(key.to_owned())
    }

    #[test]
    fn a_failed_nullable_field_is_null_beside_the_fields_that_did_not_fail() {
        let data = failed(
            value!({ "me": { "email": "a@b.c" } }),
            "{ me { email } lead(id: \"x\") { id } }",
            &[&[field("lead")]],
        );
        assert_eq!(data, value!({ "me": { "email": "a@b.c" }, "lead": null }));
    }

    #[test]
    fn an_operation_whose_only_nullable_field_failed_keeps_its_data_object() {
        let data = failed(Value::Null, "{ found: lead(id: \"x\") { id } }", &[&[field("found")]]);
        assert_eq!(data, value!({ "found": null }));
    }

    #[test]
    fn a_failed_non_null_root_field_makes_data_null() {
        let query = "{ me { email } leads(first: 5) { pageInfo { hasNextPage } } }";
        let data = failed(value!({ "me": { "email": "a@b.c" } }), query, &[&[field("leads")]]);
        assert_eq!(data, Value::Null);
    }

    #[test]
    fn a_failed_non_null_field_nulls_its_nearest_nullable_parent() {
        // `Lead.email` is non-null and `Query.lead` nullable: the lead becomes null.
        let query = "query { lead(id: \"x\") { id ...on Lead { email } } me { email } }";
        let data = failed(
            value!({ "lead": { "id": "x" }, "me": { "email": "a@b.c" } }),
            query,
            &[&[field("lead"), field("email")]],
        );
        assert_eq!(data, value!({ "lead": null, "me": { "email": "a@b.c" } }));
    }

    #[test]
    fn a_failed_field_in_a_list_item_nulls_up_through_non_null_items() {
        // `Lead.email`, `LeadEdge.node`, the edges' items, `edges` and `leads` are all
        // non-null; `lead` beside them is nullable, but a sibling, not a parent.
        let query = "{ lead(id: \"x\") { id } leads { edges { node { email } } } }";
        let data = value!({ "lead": { "id": "x" }, "leads": { "edges": [{ "node": {} }] } });
        let path = [field("leads"), field("edges"), PathSegment::Index(0), field("node"), field("email")];
        assert_eq!(failed(data, query, &[&path]), Value::Null);
    }

    #[test]
    fn errors_off_the_operation_change_nothing() {
        let data = value!({ "me": { "email": "a@b.c" } });
        let unknown = failed(data.clone(), "{ me { email } }", &[&[field("elsewhere")]]);
        assert_eq!(unknown, data);
        let no_path = failed(data.clone(), "{ me { email } }", &[&[]]);
        assert_eq!(no_path, data);
    }
}
