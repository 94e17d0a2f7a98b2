//! The command line as a library call (`tessera_cli::run_from`), as the Python package's
//! `tessera` command runs it.

#[test]
fn run_from_returns_the_exit_status() {
    assert_eq!(tessera_cli::run_from(["tessera", "--version"]), 0);
    assert_eq!(tessera_cli::run_from(["tessera", "--help"]), 0);
    assert_eq!(tessera_cli::run_from(["tessera", "no-such-command"]), 2);
    assert_eq!(tessera_cli::run_from(["tessera", "tile", "0.17,52.23"]), 0);
    assert_eq!(tessera_cli::run_from(["tessera", "tile", "999,1"]), 2);
    let args: Vec<std::ffi::OsString> = vec!["tessera".into(), "countries".into(), "monaco".into()];
    assert_eq!(tessera_cli::run_from(args), 0);
}
