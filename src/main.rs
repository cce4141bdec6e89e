fn main() -> std::process::ExitCode {
    vaultline::cli::run()
}
