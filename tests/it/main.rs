mod policy;
mod support;
