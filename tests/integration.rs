//! Integration tests against real servers (see `support`): one test binary, modules by subject.

mod bad_inputs;
mod check;
mod cli;
mod consistent;
mod deploy;
mod etcd;
mod faults;
mod image;
mod k8s;
mod security;
mod served;
mod static_binary;
mod util;
mod workflows;
mod writers;
