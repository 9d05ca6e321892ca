use super::*;

#[test]
fn states_an_entry_can_say() {
    assert!(states_fit(Verdict::Accept, CtStates::NEW));
    assert!(states_fit(Verdict::Accept, CtStates::NEW | EST));
    assert!(!states_fit(
        Verdict::Accept,
        CtStates::NEW | CtStates::INVALID
    ));
    assert!(states_fit(Verdict::Drop, CtStates::NEW));
    assert!(states_fit(Verdict::Drop, CtStates::INVALID));
    assert!(states_fit(
        Verdict::Reject(RejectKind::TcpReset),
        CtStates::INVALID
    ));
    // a block right after the established rule
    assert!(states_fit(Verdict::Drop, CtStates::NEW | CtStates::INVALID));
    assert!(!states_fit(
        Verdict::Drop,
        CtStates::NEW | CtStates::RELATED
    ));
    assert!(!states_fit(
        Verdict::Drop,
        CtStates::NEW | CtStates::INVALID | CtStates::UNTRACKED
    ));
}

#[test]
fn statewall_allows_match_new_or_their_own_states_and_rejects_any_state() {
    let flat = |verdict, block_state| Flat {
        cond: Cond::default(),
        verdict,
        rule: 0,
        part: 0,
        via: Vec::new(),
        extra: Default::default(),
        block_state,
    };
    let accept = flat(Verdict::Accept, None);
    let c = states_only(EST | CtStates::NEW);
    assert_eq!(
        sw_cond(Rank::Allow, &accept, &c, true).states,
        Some(CtStates::NEW)
    );
    assert_eq!(
        sw_cond(Rank::Allow, &accept, &c, false).states,
        Some(EST | CtStates::NEW)
    );
    assert_eq!(
        sw_cond(Rank::Allow, &accept, &Cond::default(), false).states,
        None
    );
    let reject = flat(Verdict::Reject(RejectKind::TcpReset), None);
    assert_eq!(sw_cond(Rank::Reject, &reject, &c, true).states, None);
    assert_eq!(
        sw_cond(
            Rank::Established,
            &accept,
            &states_only(CtStates::RELATED),
            true
        ),
        states_only(EST)
    );
    // a block among the allows has no state match, unless it keeps it
    let new = states_only(CtStates::NEW);
    let drop = flat(Verdict::Drop, None);
    assert_eq!(sw_cond(Rank::Allow, &drop, &new, true).states, None);
    let drop_new = flat(Verdict::Drop, Some(BlockState::New));
    assert_eq!(
        sw_cond(Rank::Allow, &drop_new, &new, true).states,
        Some(CtStates::NEW)
    );
    assert_eq!(
        sw_cond(Rank::Block, &drop_new, &new, true).states,
        Some(CtStates::NEW)
    );
    // and a block of INVALID packets keeps INVALID, wherever it goes
    let invalid = states_only(CtStates::INVALID);
    let drop_invalid = flat(Verdict::Drop, Some(BlockState::Invalid));
    for rank in [Rank::Block, Rank::BlockBaseline, Rank::Allow] {
        assert_eq!(
            sw_cond(rank, &drop_invalid, &invalid, false).states,
            Some(CtStates::INVALID)
        );
    }
}
