//! LINSTOR's Kubernetes layout (`linstor-db-format.md` §3): one cluster-scoped CRD per table in group
//! `internal.linstor.linbit.com`, one custom resource per row named by the SHA-256 of its primary key.
//! Pure: builds CRD and CR objects as JSON values; the API client lives in `backend::k8s`.

use serde_json::{json, Map, Value as Json};
use sha2::{Digest, Sha256};

use crate::row::{Row, Value};
use crate::schema::{DataVersion, ServedVersion, SqlType, Table};
use crate::K8S_GROUP;

/// Name of the one `LinstorVersion` custom resource.
pub const LINSTOR_VERSION_NAME: &str = "version";
/// Annotation on `LinstorVersion` while an import runs (with `spec.version` = -1, which LINSTOR 1.34
/// refuses as "too old" and LINSTOR 1.33 cannot migrate from).
pub const IMPORT_MARKER_ANNOTATION: &str = "linstor-db/import-in-progress";
/// `LinstorVersion.spec.version` while an import runs.
pub const BLOCKING_K8S_VERSION: i64 = -1;

/// The text LINSTOR hashes into a CR name (`GenCrd*.deriveKey` input): the primary-key values in
/// column order joined with `:`; `%d` for integers; in data versions before `v1-33-1` a DATE key part
/// is `yyyy-MM-dd'T'HH:mm:ssXXX` in the controller JVM's time zone (UTC here, as in containers).
pub fn name_input(table: &Table, row: &Row) -> String {
    let mut out = String::new();
    for (n, i) in table.identity_indexes().into_iter().enumerate() {
        if n > 0 {
            out.push(':');
        }
        match (&row.cells[i], table.columns[i].sql_type) {
            (Some(Value::Int(ms)), SqlType::Date) => out.push_str(&rfc3339_utc(*ms)),
            (Some(Value::Text(s)), _) => out.push_str(s),
            (Some(Value::Int(v)), _) => out.push_str(&v.to_string()),
            (Some(Value::Bool(b)), _) => out.push_str(&b.to_string()),
            (None, _) => out.push_str("null"),
        }
    }
    out
}

/// `metadata.name` of a row's custom resource: lower-case hex SHA-256 of [`name_input`].
pub fn cr_name(table: &Table, row: &Row) -> String {
    sha256_hex(name_input(table, row).as_bytes())
}

/// Lower-case hex SHA-256.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// Lower-case hex of `bytes` (digests in names, manifests and annotations).
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `yyyy-MM-dd'T'HH:mm:ssXXX` of epoch milliseconds in UTC (`XXX` of a zero offset is `Z`).
pub fn rfc3339_utc(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Howard Hinnant's civil-from-days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z", rem / 3600, rem % 3600 / 60, rem % 60)
}

/// The OpenAPI `type` and `format` of a column in LINSTOR's generated CRDs. TIMESTAMP has no format in
/// the schemas before `v1-33-1` (the Java field was a `Date`), `int64` from `v1-33-1` on.
pub fn openapi_type(sql_type: SqlType, version: DataVersion) -> (&'static str, Option<&'static str>) {
    match sql_type {
        SqlType::Char | SqlType::Varchar | SqlType::Clob => ("string", None),
        SqlType::Blob => ("string", Some("byte")),
        SqlType::Timestamp if version < DataVersion::V1_33_1 => ("integer", None),
        SqlType::Bigint | SqlType::Timestamp | SqlType::Date => ("integer", Some("int64")),
        SqlType::Integer => ("integer", Some("int32")),
        SqlType::Smallint => ("integer", None),
        SqlType::Boolean => ("boolean", None),
    }
}

/// The custom resource of a row at `version`.
pub fn custom_resource(table: &Table, row: &Row, version: DataVersion) -> Json {
    json!({
        "apiVersion": format!("{K8S_GROUP}/{version}"),
        "kind": table.kind,
        "metadata": {"name": cr_name(table, row)},
        "spec": Json::Object(row.to_json(table)),
    })
}

/// The CRD LINSTOR applies for `table` at data version `version`: every version LINSTOR's CRD file of
/// that release lists ([`ServedVersion::listed`]: from `v1-15-0`, or the table's first, up to `version`
/// for LINSTOR 1.20 – 1.33; from `v1-19-1` for 1.34), newest first, all served, only `version` stored;
/// each version with the fields its schema has.
pub fn crd(table_name: &str, version: DataVersion) -> Option<Json> {
    let current = version.schema().table(table_name)?;
    let versions: Vec<Json> = ServedVersion::listed(table_name, version)
        .into_iter()
        .filter_map(|v| v.columns(table_name).map(|columns| (v, columns)))
        .map(|(v, columns)| {
            let mut properties = Map::new();
            for column in columns {
                let (kind, format) = openapi_type(column.sql_type, v.typed_as());
                let mut field = Map::new();
                field.insert("type".into(), kind.into());
                if let Some(format) = format {
                    field.insert("format".into(), format.into());
                }
                properties.insert(column.field.clone(), Json::Object(field));
            }
            json!({
                "name": v.as_str(),
                "served": true,
                "storage": v == ServedVersion::Data(version),
                "schema": {"openAPIV3Schema": {
                    "type": "object",
                    "properties": {"spec": {"type": "object", "properties": properties}},
                }},
            })
        })
        .collect();
    Some(json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": current.crd_name()},
        "spec": {
            "group": K8S_GROUP,
            "versions": versions,
            "scope": "Cluster",
            "names": {"plural": current.plural, "singular": current.plural, "kind": current.kind},
        },
    }))
}

/// LINSTOR's `LinstorVersion` CRD (`spec.version`: the next k8s migration).
pub fn linstor_version_crd() -> Json {
    json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": format!("linstorversion.{K8S_GROUP}")},
        "spec": {
            "group": K8S_GROUP,
            "versions": [{
                "name": "v1",
                "served": true,
                "storage": true,
                "schema": {"openAPIV3Schema": {"type": "object", "properties": {"spec": {
                    "type": "object",
                    "properties": {"version": {"type": "integer", "format": "int32"}},
                }}}},
            }],
            "scope": "Cluster",
            "names": {"plural": "linstorversion", "singular": "linstorversion", "kind": "LinstorVersion"},
        },
    })
}

/// LINSTOR's `Rollback` CRD (its transaction journal; must be empty after our writes).
pub fn rollback_crd() -> Json {
    json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": format!("rollback.{K8S_GROUP}")},
        "spec": {
            "group": K8S_GROUP,
            "versions": [{
                "name": "v1",
                "served": true,
                "storage": true,
                "additionalPrinterColumns": [{"jsonPath": ".spec", "name": "Spec", "type": "string"}],
                "schema": {"openAPIV3Schema": {
                    "type": "object",
                    "properties": {"spec": {
                        "type": "object",
                        "properties": {
                            "rollback_map": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
                            "delete_map": {"type": "object", "additionalProperties": {"type": "array", "items": {"type": "string"}}},
                        },
                        "required": ["rollback_map", "delete_map"],
                    }},
                    "required": ["spec"],
                }},
            }],
            "scope": "Cluster",
            "names": {"plural": "rollback", "singular": "rollback", "kind": "Rollback"},
        },
    })
}

/// The `LinstorVersion` custom resource holding `next_migration`.
pub fn linstor_version_cr(next_migration: u32) -> Json {
    json!({
        "apiVersion": format!("{K8S_GROUP}/v1"),
        "kind": "LinstorVersion",
        "metadata": {"name": LINSTOR_VERSION_NAME},
        "spec": {"version": next_migration},
    })
}

/// The `LinstorVersion` of an interrupted import: the blocking version with our `marker`, as the
/// Kubernetes target leaves it. A backup of an interrupted write carries this one, so that whoever
/// applies its objects by hand gets a cluster LINSTOR refuses and this tool reports as interrupted.
pub fn interrupted_linstor_version_cr(marker: &str) -> Json {
    json!({
        "apiVersion": format!("{K8S_GROUP}/v1"),
        "kind": "LinstorVersion",
        "metadata": {"name": LINSTOR_VERSION_NAME, "annotations": {IMPORT_MARKER_ANNOTATION: marker}},
        "spec": {"version": BLOCKING_K8S_VERSION},
    })
}

/// The row of a custom resource of `table` read at the storage version: `data` is the object without
/// its metadata (`spec` and whatever else the API server returned), `name` its `metadata.name`, which
/// only names it in errors. Pure, so that the fuzzers run the decoding `backend::k8s` uses.
pub fn row_of_object(table: &Table, name: &str, data: &Json) -> crate::Result<Row> {
    let spec = data.get("spec").and_then(Json::as_object).ok_or_else(|| crate::Error::InvalidRow {
        table: table.name.to_owned(),
        key: name.to_owned(),
        detail: "custom resource has no spec".into(),
    })?;
    Row::from_json(table, spec).map_err(|e| match e {
        crate::Error::InvalidRow { table, detail, .. } => {
            crate::Error::InvalidRow { table, key: format!("custom resource {name}"), detail }
        }
        other => other,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn row_of(table: &Table, values: &[(&str, Value)]) -> Row {
        let mut row = Row::empty(table);
        for (name, value) in values {
            row.cells[table.column_index(name).unwrap()] = Some(value.clone());
        }
        row
    }

    fn text(s: &str) -> Value {
        Value::Text(s.into())
    }

    /// The worked examples of `linstor-db-format.md` §3.4.
    #[test]
    fn names_of_the_format_doc_examples() {
        let s = DataVersion::V1_33_1.schema();
        let t = |n: &str| s.table(n).unwrap();
        let cases = [
            (
                row_of(t("NODES"), &[("NODE_NAME", text("ALPHA"))]),
                "NODES",
                "73ab66a033c267e00b7429bb256f6deb2734ebc4cd4ff5b564a8c9f9b2c8a719",
            ),
            (
                row_of(
                    t("RESOURCES"),
                    &[("NODE_NAME", text("ALPHA")), ("RESOURCE_NAME", text("RSC1")), ("SNAPSHOT_NAME", text(""))],
                ),
                "RESOURCES",
                "92b3f89173d4dd12c7812a4cf6097601ce3780108633dcaa4348226c4213ccaf",
            ),
            (
                row_of(
                    t("VOLUME_DEFINITIONS"),
                    &[("RESOURCE_NAME", text("RSC1")), ("SNAPSHOT_NAME", text("")), ("VLM_NR", Value::Int(0))],
                ),
                "VOLUME_DEFINITIONS",
                "cd3fcb098cd97d64a46af3c41702c8e8eb5200657998d01afa08277f33625968",
            ),
            (
                row_of(t("RESOURCE_GROUPS"), &[("RESOURCE_GROUP_NAME", text("DFLTRSCGRP"))]),
                "RESOURCE_GROUPS",
                "fa9caf795d18b93f6b418ffee6b6bd6e36536e0af0c70d3e47aca3f5e989540c",
            ),
            (
                row_of(
                    t("PROPS_CONTAINERS"),
                    &[("PROPS_INSTANCE", text("/CTRL")), ("PROP_KEY", text("defaultPlainConSvc"))],
                ),
                "PROPS_CONTAINERS",
                "39672e342e65d064f80845d7bd40fddafde0bee5826a1bd7dfda41b22d36a60d",
            ),
            (
                row_of(
                    t("PROPS_CONTAINERS"),
                    &[("PROPS_INSTANCE", text("/CTRL")), ("PROP_KEY", text("Auth/TokenAuthenticationEnabled"))],
                ),
                "PROPS_CONTAINERS",
                "abb4f08e4e1aa460f8c5281eeba172c28723f2667cb0b160f8e34072f9425a49",
            ),
            (
                row_of(
                    t("SEC_ACL_MAP"),
                    &[("OBJECT_PATH", text("/sys/controller/nodesMap")), ("ROLE_NAME", text("PUBLIC"))],
                ),
                "SEC_ACL_MAP",
                "31a18867209abff4086df481ad573bc8ed50211792b3ef9a4e117298605a5b99",
            ),
            (
                row_of(t("LAYER_RESOURCE_IDS"), &[("LAYER_RESOURCE_ID", Value::Int(5))]),
                "LAYER_RESOURCE_IDS",
                "ef2d127de37b942baad06145e54b0c619a1f22327b2ebbcfbec78f5564afe39d",
            ),
        ];
        for (row, table, expected) in cases {
            assert_eq!(cr_name(t(table), &row), expected, "{table}");
        }
    }

    #[test]
    fn date_keys_before_v1_33_1_are_rfc3339_and_timestamps_after_are_numbers() {
        let old = DataVersion::V1_31_1.schema().table("SPACE_HISTORY").unwrap();
        let new = DataVersion::V1_33_1.schema().table("SPACE_HISTORY").unwrap();
        let row = Row { cells: vec![Some(Value::Int(1_700_000_000_000)), Some(text(""))] };
        assert_eq!(name_input(old, &row), "2023-11-14T22:13:20Z");
        assert_eq!(name_input(new, &row), "1700000000000");
        assert_eq!(rfc3339_utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339_utc(951_782_400_000), "2000-02-29T00:00:00Z");
    }

    #[test]
    fn custom_resource_shape() {
        let t = DataVersion::V1_33_1.schema().table("NODES").unwrap();
        let row = Row {
            cells: vec![
                Some(text("u")),
                Some(text("ALPHA")),
                Some(text("alpha")),
                Some(Value::Int(0)),
                Some(Value::Int(2)),
            ],
        };
        let cr = custom_resource(t, &row, DataVersion::V1_33_1);
        assert_eq!(
            serde_json::to_string(&cr).unwrap(),
            r#"{"apiVersion":"internal.linstor.linbit.com/v1-33-1","kind":"Nodes","metadata":{"name":"73ab66a033c267e00b7429bb256f6deb2734ebc4cd4ff5b564a8c9f9b2c8a719"},"spec":{"uuid":"u","node_name":"ALPHA","node_dsp_name":"alpha","node_flags":0,"node_type":2}}"#
        );
    }

    /// LINSTOR's generated CRDs, copied into the repository (`testdata/reference/linstor-crds`).
    fn reference_dir() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata/reference/linstor-crds")
    }

    fn load_yaml(path: &std::path::Path) -> Json {
        let text = std::fs::read_to_string(path).unwrap();
        serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    /// Every CRD we create equals LINSTOR's generated YAML, field by field and in field order.
    #[test]
    fn crds_match_linstors_reference_files() {
        let root = reference_dir();
        for version in DataVersion::ALL {
            let dir = root.join(version.as_str().replace('-', "_"));
            let mut compared = 0;
            for table in &version.schema().tables {
                let path = dir.join(format!("{}.yaml", table.kind));
                let reference = load_yaml(&path);
                let mut ours = crd(table.name, version).unwrap();
                // LINSTOR's files are those of 1.34, which no longer list the versions before v1-19-1;
                // the CRDs of 1.20 – 1.33 list them after v1-19-1 (checked against what 1.33.3 wrote
                // in `crds_match_what_linstor_1_33_left_after_its_migrations`).
                let listed = ours["spec"]["versions"].as_array_mut().unwrap();
                let old: Vec<Json> = listed.drain(reference["spec"]["versions"].as_array().unwrap().len()..).collect();
                let old_names: Vec<&str> = old.iter().filter_map(|v| v["name"].as_str()).collect();
                let expected_old: &[&str] = match (version, table.name) {
                    (DataVersion::V1_33_1, _) | (_, "EBS_REMOTES") => &[],
                    (_, "SCHEDULES") => &["v1-18-2"],
                    _ => &["v1-18-2", "v1-17-0", "v1-15-0"],
                };
                assert_eq!(old_names, expected_old, "{}", path.display());
                assert_eq!(ours, reference, "{}", path.display());
                // Same field order as LINSTOR's generator (column order).
                let fields = |crd: &Json| -> Vec<String> {
                    crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]
                        .as_object()
                        .unwrap()
                        .keys()
                        .cloned()
                        .collect()
                };
                assert_eq!(fields(&ours), fields(&reference), "{}", path.display());
                compared += 1;
            }
            // Files without a table in this version: only the Openflex CRDs LINSTOR's generator still
            // emitted for v1-25-1 and that migration 18 deletes.
            let extra: Vec<String> = std::fs::read_dir(&dir)
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().trim_end_matches(".yaml").to_owned())
                .filter(|kind| !version.schema().tables.iter().any(|t| &t.kind == kind))
                .collect();
            let allowed: &[&str] = if version == DataVersion::V1_25_1 {
                &["LayerOpenflexResourceDefinitions", "LayerOpenflexVolumes"]
            } else {
                &[]
            };
            let mut extra_sorted = extra.clone();
            extra_sorted.sort();
            assert_eq!(extra_sorted, allowed, "{version}");
            assert_eq!(compared, version.schema().tables.len());
        }
        assert_eq!(linstor_version_crd(), load_yaml(&root.join("LinstorVersion.yaml")));
        assert_eq!(rollback_crd(), load_yaml(&root.join("Rollback.yaml")));
    }

    /// The CRDs LINSTOR 1.33.3 left after running its own k8s migrations from scratch, as the API
    /// server returned them.
    fn crds_after_linstor_migrations() -> Vec<Json> {
        let path = reference_dir().join("../linstor-written/crds-after-linstor-migrations.yaml");
        let text = std::fs::read_to_string(&path).unwrap();
        serde_yaml::Deserializer::from_str(&text)
            .map(|d| <Json as serde::Deserialize>::deserialize(d).unwrap())
            .filter(|d| !d.is_null())
            .collect()
    }

    /// Our CRDs for `v1-31-1` (LINSTOR 1.32 – 1.33) equal what LINSTOR 1.33.3 left, field by field:
    /// version list in order, served / storage, every version's schema; the API server's additions
    /// (`conversion: None`, `listKind`, `status`) aside.
    #[test]
    fn crds_match_what_linstor_1_33_left_after_its_migrations() {
        let theirs = crds_after_linstor_migrations();
        assert_eq!(theirs.len(), 45);
        let version = DataVersion::V1_31_1;
        let mut compared = 0;
        for reference in &theirs {
            let plural = reference["spec"]["names"]["plural"].as_str().unwrap();
            let ours = match plural {
                "linstorversion" => linstor_version_crd(),
                "rollback" => rollback_crd(),
                _ => {
                    let table = version.schema().tables.iter().find(|t| t.plural == plural).unwrap();
                    crd(table.name, version).unwrap()
                }
            };
            assert_eq!(ours["metadata"], reference["metadata"], "{plural}");
            for key in ["group", "scope"] {
                assert_eq!(ours["spec"][key], reference["spec"][key], "{plural} {key}");
            }
            let mut names = reference["spec"]["names"].clone();
            names.as_object_mut().unwrap().remove("listKind");
            assert_eq!(ours["spec"]["names"], names, "{plural}");
            assert_eq!(reference["spec"]["conversion"], json!({"strategy": "None"}), "{plural}");
            let (ours_v, theirs_v) =
                (ours["spec"]["versions"].as_array().unwrap(), reference["spec"]["versions"].as_array().unwrap());
            let name_list = |v: &[Json]| v.iter().map(|v| v["name"].as_str().unwrap().to_owned()).collect::<Vec<_>>();
            assert_eq!(name_list(ours_v), name_list(theirs_v), "{plural}");
            for (a, b) in ours_v.iter().zip(theirs_v) {
                for key in ["served", "storage", "schema", "additionalPrinterColumns"] {
                    assert_eq!(a[key], b[key], "{plural} {} {key}", b["name"]);
                }
                assert_eq!(a.as_object().unwrap().len(), b.as_object().unwrap().len(), "{plural} {}", b["name"]);
            }
            compared += 1;
        }
        assert_eq!(compared, version.schema().tables.len() + 2);
    }

    /// The schemas of the served versions as the table data says, against the 1.33.3 CRDs.
    #[test]
    fn served_version_columns_match_linstors_crds() {
        for reference in crds_after_linstor_migrations() {
            let kind = reference["spec"]["names"]["kind"].as_str().unwrap();
            let Some(table) = DataVersion::V1_31_1.schema().tables.iter().find(|t| t.kind == kind) else { continue };
            for entry in reference["spec"]["versions"].as_array().unwrap() {
                let served = ServedVersion::parse(entry["name"].as_str().unwrap()).unwrap();
                let fields: Vec<String> = served.columns(table.name).unwrap().iter().map(|c| c.field.clone()).collect();
                let mut theirs: Vec<String> = entry["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]
                    .as_object()
                    .unwrap()
                    .keys()
                    .cloned()
                    .collect();
                let mut ours = fields.clone();
                ours.sort();
                theirs.sort();
                assert_eq!(ours, theirs, "{kind} {served}");
            }
        }
    }
}
