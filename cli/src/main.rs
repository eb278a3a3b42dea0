//! The `agenttier` binary (see the `agenttier_cli` library).

fn main() -> std::process::ExitCode {
    agenttier_cli::main()
}
