//! The `pin-proxy` binary: everything is in the library's `cli` module.

fn main() {
    std::process::exit(pin_proxy::cli::main());
}
