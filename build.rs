fn main() {
    // Migrations are embedded at compile time.
    println!("cargo:rerun-if-changed=migrations");
    println!("cargo:rerun-if-changed=config/default.toml");
    // The PostgreSQL variants of the API tests run when a server is configured and are
    // reported as ignored (never as passed) when it is not.
    println!("cargo::rustc-check-cfg=cfg(postgres_tests)");
    println!("cargo:rerun-if-env-changed=VAULTLINE_TEST_POSTGRES_URL");
    if std::env::var("VAULTLINE_TEST_POSTGRES_URL").is_ok_and(|url| !url.is_empty()) {
        println!("cargo::rustc-cfg=postgres_tests");
    }
    // The console's accessibility check runs when axe-core is installed
    // (`npm ci --prefix tests/console`) and is reported as ignored when it is not.
    println!("cargo::rustc-check-cfg=cfg(axe_tests)");
    let axe = "tests/console/node_modules/axe-core/axe.min.js";
    println!("cargo:rerun-if-changed={axe}");
    if std::path::Path::new(axe).exists() {
        println!("cargo::rustc-cfg=axe_tests");
    }
}
