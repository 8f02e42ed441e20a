//! Validates every query the host sends against Wave's introspected schema
//! (`tests/fixtures/wave/schema.json`, see its `SOURCE.md`): fields exist on
//! their types, arguments exist and required ones are given, variables are
//! declared with types the arguments accept, enum literals are members, and
//! leaves are scalars.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;

use graphql_parser::query::{Definition, Document, Field, OperationDefinition, Selection, SelectionSet, TypeCondition, Value as GqlValue};
use serde_json::Value;

use super::ALL_QUERIES;

struct FieldDef {
    ty: String,
    args: BTreeMap<String, String>,
}

struct TypeDef {
    kind: String,
    fields: HashMap<String, FieldDef>,
    enum_values: BTreeSet<String>,
}

struct Schema {
    query_type: String,
    types: HashMap<String, TypeDef>,
}

fn render(t: &Value) -> String {
    match t["kind"].as_str() {
        Some("NON_NULL") => format!("{}!", render(&t["ofType"])),
        Some("LIST") => format!("[{}]", render(&t["ofType"])),
        _ => t["name"].as_str().unwrap_or("?").to_owned(),
    }
}

fn base(ty: &str) -> &str {
    ty.trim_matches(|c| c == '[' || c == ']' || c == '!')
}

impl Schema {
    fn load(path: &std::path::Path) -> Schema {
        let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read the Wave schema {}: {e}", path.display()));
        let json: Value = serde_json::from_str(&text).unwrap();
        let schema = json.get("data").unwrap_or(&json)["__schema"].clone();
        let mut types = HashMap::new();
        for t in schema["types"].as_array().unwrap() {
            let mut fields = HashMap::new();
            for f in t["fields"].as_array().into_iter().flatten() {
                let args = f["args"].as_array().unwrap().iter().map(|a| (a["name"].as_str().unwrap().to_owned(), render(&a["type"]))).collect();
                fields.insert(f["name"].as_str().unwrap().to_owned(), FieldDef { ty: render(&f["type"]), args });
            }
            let enum_values = t["enumValues"].as_array().into_iter().flatten().map(|v| v["name"].as_str().unwrap().to_owned()).collect();
            types.insert(t["name"].as_str().unwrap().to_owned(), TypeDef { kind: t["kind"].as_str().unwrap().to_owned(), fields, enum_values });
        }
        Schema { query_type: schema["queryType"]["name"].as_str().unwrap().to_owned(), types }
    }

    /// Every problem with `query`; empty when it validates.
    fn validate(&self, query: &str) -> Vec<String> {
        let doc: Document<'_, String> = match graphql_parser::parse_query(query) {
            Ok(doc) => doc,
            Err(e) => return vec![format!("parse error: {e}")],
        };
        let mut errors = Vec::new();
        let fragments: HashMap<String, (String, SelectionSet<'_, String>)> = doc
            .definitions
            .iter()
            .filter_map(|d| match d {
                Definition::Fragment(f) => {
                    let TypeCondition::On(on) = &f.type_condition;
                    Some((f.name.clone(), (on.clone(), f.selection_set.clone())))
                }
                _ => None,
            })
            .collect();
        for definition in &doc.definitions {
            let Definition::Operation(OperationDefinition::Query(q)) = definition else {
                if !matches!(definition, Definition::Fragment(_)) {
                    errors.push("only named queries are sent".into());
                }
                continue;
            };
            let vars: HashMap<String, String> = q.variable_definitions.iter().map(|v| (v.name.clone(), v.var_type.to_string())).collect();
            for (name, ty) in &vars {
                if !self.types.contains_key(base(ty)) {
                    errors.push(format!("variable ${name}: unknown type {ty}"));
                }
            }
            let mut used = BTreeSet::new();
            self.walk(&self.query_type, &q.selection_set, &vars, &fragments, &mut used, &mut errors);
            for name in vars.keys().filter(|v| !used.contains(*v)) {
                errors.push(format!("variable ${name} is never used"));
            }
        }
        errors
    }

    fn walk(
        &self,
        on: &str,
        set: &SelectionSet<'_, String>,
        vars: &HashMap<String, String>,
        fragments: &HashMap<String, (String, SelectionSet<'_, String>)>,
        used: &mut BTreeSet<String>,
        errors: &mut Vec<String>,
    ) {
        let Some(parent) = self.types.get(on) else {
            errors.push(format!("unknown type {on}"));
            return;
        };
        for selection in &set.items {
            match selection {
                Selection::Field(field) => self.field(on, parent, field, vars, fragments, used, errors),
                Selection::FragmentSpread(spread) => match fragments.get(&spread.fragment_name) {
                    Some((cond, sub)) if cond == on => self.walk(cond, sub, vars, fragments, used, errors),
                    Some((cond, _)) => errors.push(format!("fragment {} on {cond} spread into {on}", spread.fragment_name)),
                    None => errors.push(format!("unknown fragment {}", spread.fragment_name)),
                },
                Selection::InlineFragment(_) => errors.push("inline fragments are not used".into()),
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn field(
        &self,
        on: &str,
        parent: &TypeDef,
        field: &Field<'_, String>,
        vars: &HashMap<String, String>,
        fragments: &HashMap<String, (String, SelectionSet<'_, String>)>,
        used: &mut BTreeSet<String>,
        errors: &mut Vec<String>,
    ) {
        if field.name == "__typename" {
            return;
        }
        let Some(def) = parent.fields.get(&field.name) else {
            errors.push(format!("{on}.{} does not exist", field.name));
            return;
        };
        for (arg, value) in &field.arguments {
            let Some(arg_ty) = def.args.get(arg) else {
                errors.push(format!("{on}.{}({arg}:) does not exist", field.name));
                continue;
            };
            self.value(&format!("{on}.{}({arg}:)", field.name), arg_ty, value, vars, used, errors);
        }
        for (arg, ty) in &def.args {
            if ty.ends_with('!') && !field.arguments.iter().any(|(a, _)| a == arg) {
                errors.push(format!("{on}.{} needs argument {arg}: {ty}", field.name));
            }
        }
        let target = base(&def.ty);
        let kind = self.types.get(target).map_or("", |t| t.kind.as_str());
        let composite = matches!(kind, "OBJECT" | "INTERFACE" | "UNION");
        if composite && field.selection_set.items.is_empty() {
            errors.push(format!("{on}.{} of type {target} needs a selection", field.name));
        } else if !composite && !field.selection_set.items.is_empty() {
            errors.push(format!("{on}.{} is a leaf ({target}) but has a selection", field.name));
        } else if composite {
            self.walk(target, &field.selection_set, vars, fragments, used, errors);
        }
    }

    fn value(&self, at: &str, ty: &str, value: &GqlValue<'_, String>, vars: &HashMap<String, String>, used: &mut BTreeSet<String>, errors: &mut Vec<String>) {
        match value {
            GqlValue::Variable(name) => {
                used.insert(name.clone());
                match vars.get(name) {
                    // A non-null variable may feed a nullable argument, not the reverse.
                    Some(var_ty) if var_ty == ty || *var_ty == format!("{ty}!") => {}
                    Some(var_ty) => errors.push(format!("{at}: ${name} is {var_ty}, the argument is {ty}")),
                    None => errors.push(format!("{at}: ${name} is not declared")),
                }
            }
            GqlValue::Enum(member) => {
                let named = base(ty);
                match self.types.get(named) {
                    Some(t) if t.kind == "ENUM" && t.enum_values.contains(member) => {}
                    _ => errors.push(format!("{at}: {member} is not a value of {named}")),
                }
            }
            GqlValue::List(items) => {
                let inner = ty.trim_end_matches('!');
                let Some(inner) = inner.strip_prefix('[').and_then(|t| t.strip_suffix(']')) else {
                    errors.push(format!("{at}: a list given for {ty}"));
                    return;
                };
                for item in items {
                    self.value(at, inner, item, vars, used, errors);
                }
            }
            GqlValue::Null if ty.ends_with('!') => errors.push(format!("{at}: null for {ty}")),
            _ => {}
        }
    }
}

fn schema() -> Schema {
    Schema::load(&PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/wave/schema.json"))
}

#[test]
fn every_query_validates_against_the_wave_schema() {
    let schema = schema();
    for (name, query) in ALL_QUERIES {
        let errors = schema.validate(query);
        assert!(errors.is_empty(), "query {name} does not validate:\n{}\n{query}", errors.join("\n"));
    }
}

#[test]
fn the_validator_refuses_fields_arguments_and_variables_the_schema_lacks() {
    let schema = schema();
    let cases = [
        ("query Q($b: ID!, $e: ID!) { business(id: $b) { estimate(id: $e) { id } } }", "Business.estimate does not exist"),
        ("query Q($b: ID!) { business(id: $b) { name { value } } }", "is a leaf"),
        ("query Q($b: ID!) { business(id: $b) { customer { id } } }", "needs argument id"),
        ("query Q($b: Int!) { business(id: $b) { id } }", "$b is Int!"),
        ("query Q($b: ID!) { business(id: $b) { invoices(sort: [SOONEST]) { pageInfo { currentPage } } } }", "SOONEST is not a value"),
        ("query Q($b: ID!, $x: ID!) { business(id: $b) { id } }", "$x is never used"),
    ];
    for (query, needle) in cases {
        let errors = schema.validate(query).join("\n");
        assert!(errors.contains(needle), "{query}: expected {needle:?} in {errors:?}");
    }
}
