//! placeholder, replaced by the policy parser
