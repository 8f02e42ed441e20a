//! Tests of the `[[qad]]` configuration: the issue's example, defaults, and errors naming key and reason.

use super::*;

#[derive(Deserialize)]
struct File {
    qad: Vec<QadConfig>,
}

fn parse(text: &str) -> Result<QadConfig, String> {
    let de = toml::de::Deserializer::parse(text).map_err(|e| e.to_string())?;
    serde_path_to_error::deserialize::<_, File>(de)
        .map(|mut f| f.qad.remove(0))
        .map_err(|e| format!("{}: {}", e.path(), e.inner().message()))
}

const ISSUE_EXAMPLE: &str = r#"
[[qad]]
name = "acme"
base_url = "https://acme.qad.com/clouderp/"
username = "integration"
workspace = "10USA_10USACO"
client_id = "abc"
poll_every = "5m"
people = { "B01" = "+15555550101", "PM" = "team:plant" }
[qad.browses.supplier_invoice]
id = "urn:browse:custom:invoices"
fields = { status = "CInvoice.Status", modified = "" }
[qad.writeback]
purchase_order = { component = "purchaseOrderHeaders", key = "purchaseOrderNumber", field = "remarks" }
"#;

#[test]
fn the_issue_example_reads_with_defaults_for_everything_else() {
    let q = parse(ISSUE_EXAMPLE).unwrap();
    assert_eq!(q.base_url, "https://acme.qad.com/clouderp", "trailing slash dropped");
    assert_eq!(q.schedule.every, Every::Interval(Duration::from_secs(300)));
    assert_eq!(q.schedule.jitter, Duration::from_secs(30), "a tenth of the interval");
    assert_eq!(q.people["PM"], Recipient::Team("plant".into()));
    let invoices = q.browse(RecordKind::SupplierInvoice);
    assert_eq!(invoices.id, "urn:browse:custom:invoices");
    assert_eq!(invoices.fields["status"], "CInvoice.Status");
    assert!(!invoices.fields.contains_key("modified"), "an empty field unmaps the role");
    assert_eq!(invoices.fields["key"], "CInvoice.CInvoiceReference", "other roles keep their defaults");
    assert_eq!(q.browse(RecordKind::PurchaseOrder).id, "urn:browse:mfg:po803");
    assert!(q.statuses.invoice_awaiting_receipt.contains("AP-INITIAL"));
    assert_eq!(q.writeback[&RecordKind::PurchaseOrder].field, "remarks");
    assert_eq!((q.max_concurrency, q.next_page_action.as_str()), (2, "next"));
}

#[test]
fn mistakes_name_the_key_and_the_reason() {
    let base = "[[qad]]\nname = \"acme\"\nbase_url = \"https://a.example/clouderp\"\nusername = \"u\"\n";
    for (extra, expected) in [
        ("poll_every = \"soon\"\n", "`poll_every`: \"soon\" is not a duration"),
        ("poll_every = \"5m\"\ncron = \"* * * * *\"\n", "`cron`: set either `poll_every` or `cron`"),
        ("cron = \"not cron\"\n", "`cron`: \"not cron\" is not a cron expression"),
        ("max_concurrency = 3\n", "`max_concurrency`: 3 is not 1 or 2"),
        ("people = { B01 = \"customer\" }\n", "`people.B01`: \"customer\" is not a person"),
        ("[qad.browses.invoices]\nid = \"x\"\n", "`browses.invoices`: unknown record"),
        ("[qad.browses.purchase_order]\nfields = { colour = \"x\" }\n", "`browses.purchase_order.fields.colour`: unknown role"),
        ("[qad.browses.goods_receipt]\nfields = { key = \"\" }\n", "`browses.goods_receipt.fields.key`: the key field must be mapped"),
        ("[qad.writeback]\npurchase_order = { component = \"\", key = \"k\", field = \"f\" }\n", "`writeback.purchase_order.component`: must be set"),
        ("token_request = \"header\"\n", "unknown variant `header`"),
        ("colour = 1\n", "unknown field `colour`"),
    ] {
        let err = parse(&format!("{base}{extra}")).unwrap_err();
        assert!(err.contains(expected), "{extra:?}: {err}");
        assert!(err.starts_with("qad[0]"), "{err}");
    }
    for (text, expected) in [
        ("[[qad]]\nname = \"Acme\"\nbase_url = \"https://a.example\"\nusername = \"u\"\n", "`name`: \"Acme\" must be 1 to 32"),
        ("[[qad]]\nname = \"acme\"\nbase_url = \"ftp://a.example\"\nusername = \"u\"\n", "`base_url`: \"ftp://a.example\" is not an http"),
        ("[[qad]]\nname = \"acme\"\nbase_url = \"https://a.example\"\n", "`username`: must be set"),
    ] {
        let err = parse(text).unwrap_err();
        assert!(err.contains(expected), "{text:?}: {err}");
    }
}

#[test]
fn a_cron_schedule_has_no_default_jitter() {
    let q = parse("[[qad]]\nname = \"a\"\nbase_url = \"http://127.0.0.1:9\"\nusername = \"u\"\ncron = \"0 */10 7-18 * * MON-FRI\"\ntimezone = \"-05:00\"\nactive_hours = \"07:00-19:00\"\n").unwrap();
    assert_eq!(q.schedule.every, Every::Cron("0 */10 7-18 * * MON-FRI".into()));
    assert_eq!(q.schedule.jitter, Duration::ZERO);
    assert!(q.schedule.active_hours.is_some());
}

#[test]
fn tenant_names_must_be_unique() {
    let a = QadConfig::new("acme", "http://127.0.0.1:1", "u").unwrap();
    assert_eq!(check_unique(&[a.clone(), a]).unwrap_err(), (1, "tenant \"acme\" is configured twice".into()));
}
