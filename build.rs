fn main() {
    // Migrations are embedded at compile time.
    println!("cargo:rerun-if-changed=migrations");
    println!("cargo:rerun-if-changed=config/default.toml");
}
