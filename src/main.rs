//! The `statewall` binary: everything lives in the library (`statewall::cli`).

fn main() -> std::process::ExitCode {
    statewall::cli::main()
}
