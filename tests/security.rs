//! etcd with TLS and client certificates, and with user/password auth, each on its own real etcd.

use std::path::Path;
use std::process::Command;

use linstor_db_core::backend::etcd::{EtcdSource, EtcdStore, EtcdTarget};
use linstor_db_core::config::DbConfig;
use linstor_db_core::engine::{self, CopyOptions};
use linstor_db_core::generate::{GeneratedSource, Plan};
use linstor_db_core::schema::DataVersion;
use linstor_db_core::store::EtcdSettings;

use crate::util::*;

fn openssl(dir: &Path, args: &[&str]) {
    let output =
        Command::new("openssl").args(args).current_dir(dir).output().expect("openssl is installed by scripts/setup.sh");
    assert!(output.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&output.stderr));
}

/// A CA, a server certificate for 127.0.0.1, a client certificate with a PKCS#8 key, and the same
/// client key in PKCS#1 form (which LINSTOR does not accept).
fn make_certificates(dir: &Path) {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.crt",
            "-days",
            "2",
            "-subj",
            "/CN=test-ca",
        ],
    );
    for (name, ext) in [
        ("server", "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth"),
        ("client", "extendedKeyUsage=clientAuth"),
    ] {
        std::fs::write(dir.join(format!("{name}.ext")), ext).unwrap();
        openssl(
            dir,
            &["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", &format!("{name}.key")],
        );
        openssl(
            dir,
            &[
                "req",
                "-new",
                "-key",
                &format!("{name}.key"),
                "-out",
                &format!("{name}.csr"),
                "-subj",
                &format!("/CN={name}"),
            ],
        );
        openssl(
            dir,
            &[
                "x509",
                "-req",
                "-in",
                &format!("{name}.csr"),
                "-CA",
                "ca.crt",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-out",
                &format!("{name}.crt"),
                "-days",
                "2",
                "-extfile",
                &format!("{name}.ext"),
            ],
        );
    }
    openssl(dir, &["rsa", "-in", "client.key", "-traditional", "-out", "client-pkcs1.key"]);
}

#[tokio::test]
async fn tls_with_client_certificate() {
    let certs = TempDir::new().unwrap();
    let dir = certs.path();
    make_certificates(dir);
    let p = |f: &str| dir.join(f).display().to_string();
    let etcd = Etcd::start(
        &[
            &format!("--cert-file={}", p("server.crt")),
            &format!("--key-file={}", p("server.key")),
            &format!("--trusted-ca-file={}", p("ca.crt")),
            "--client-cert-auth",
        ],
        "https",
    );
    let config_dir = TempDir::new().unwrap();
    let toml = format!(
        "[db]\nconnection_url = \"{}\"\nca_certificate = \"{}\"\nclient_certificate = \"{}\"\nclient_key_pkcs8_pem = \"{}\"\n",
        etcd.url(),
        p("ca.crt"),
        p("client.crt"),
        p("client.key")
    );
    let config = DbConfig::parse(&toml, Path::new("linstor.toml")).unwrap();
    let settings = EtcdSettings::new(vec![etcd.endpoint.clone()], &config);
    let store = EtcdStore::connect(settings.clone()).await.expect("TLS connection with client certificate");
    let plan = Plan::for_rows(500, 4, DataVersion::V1_31_1);
    engine::copy(&mut GeneratedSource::new(plan.clone()), &mut EtcdTarget::new(store.clone()), &CopyOptions::default())
        .await
        .unwrap();
    let (_, expected) = collect(&mut GeneratedSource::new(plan)).await;
    let (_, actual) = collect(&mut EtcdSource::new(store)).await;
    assert!(actual == expected);

    // The CLI with the same linstor.toml.
    write_config(config_dir.path(), &toml);
    let out = config_dir.path().join("out.json");
    let output = run_cli(&["export-db", "-c", config_dir.path().to_str().unwrap(), out.to_str().unwrap()]);
    assert!(output.status.success(), "{}", describe(&output));

    // Without the client certificate the server refuses us, and the message says where we tried.
    let no_identity = EtcdSettings { client_identity: None, ..settings.clone() };
    let err = EtcdStore::connect(no_identity).await.err().expect("refused without client certificate").to_string();
    assert!(err.contains("cannot connect to etcd"), "{err}");
    // A PKCS#1 key is refused with the conversion command, as LINSTOR only takes PKCS#8.
    let pkcs1 = EtcdSettings {
        client_identity: Some((dir.join("client.crt"), dir.join("client-pkcs1.key"))),
        ..settings.clone()
    };
    let err = EtcdStore::connect(pkcs1).await.err().expect("PKCS#1 refused").to_string();
    assert!(err.contains("PKCS#8") && err.contains("openssl pkcs8"), "{err}");
    // A missing CA file names the setting.
    let missing = EtcdSettings { ca_certificate: Some(dir.join("nope.crt")), ..settings };
    let err = EtcdStore::connect(missing).await.err().expect("missing CA").to_string();
    assert!(err.contains("ca_certificate"), "{err}");
}

#[tokio::test]
async fn user_and_password() {
    let etcd = Etcd::start(&[], "http");
    let mut admin = etcd_client::Client::connect([etcd.endpoint.as_str()], None).await.unwrap();
    admin.user_add("root", "s3cret", None).await.unwrap();
    admin.user_grant_role("root", "root").await.unwrap();
    admin.auth_enable().await.unwrap();

    let config = DbConfig { user: Some("root".into()), password: Some("s3cret".into()), ..DbConfig::default() };
    let store =
        EtcdStore::connect(EtcdSettings::new(vec![etcd.endpoint.clone()], &config)).await.expect("authenticated");
    let plan = Plan::for_rows(300, 8, DataVersion::V1_31_1);
    engine::copy(&mut GeneratedSource::new(plan.clone()), &mut EtcdTarget::new(store.clone()), &CopyOptions::default())
        .await
        .unwrap();
    let (_, actual) = collect(&mut EtcdSource::new(store)).await;
    assert!(!actual.is_empty());

    let wrong = DbConfig { password: Some("wrong".into()), ..config };
    let err = EtcdStore::connect(EtcdSettings::new(vec![etcd.endpoint.clone()], &wrong))
        .await
        .err()
        .expect("wrong password")
        .to_string();
    assert!(err.contains("cannot connect to etcd") && !err.contains("wrong"), "the password is not echoed: {err}");
}
