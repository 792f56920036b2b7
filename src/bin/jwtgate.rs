//! `jwtgate`: the native sidecar service and command line
//! (`serve`, `inspect`, `verify`); see `jwtgate --help` and
//! [`jwtgate::sidecar`].

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    std::process::exit(jwtgate::sidecar::cli::main(&args));
}
