//! Every store operation, on SQLite and (when configured) PostgreSQL.

mod common;

use std::collections::HashSet;

use common::{each_backend, world};
use rosetta_core::key::KeyStyle;
use rosetta_core::*;
use rosetta_store::seed::SeedOptions;
use rosetta_store::testing::Shortcuts;

fn contact(store: &dyn Store, org: Id, phone: &str, name: &str) -> Id {
    store
        .create_contact(
            org,
            NewContact {
                phone: phone.into(),
                name: Some(name.into()),
                ..Default::default()
            },
        )
        .unwrap()
        .contact
        .contact
        .id
}

fn inbound(conversation: Id, wamid: &str, text: &str, at: i64) -> NewMessage {
    rosetta_store::testing::inbound_text(conversation, wamid, text, Timestamp(at))
}

#[test]
fn organizations_accounts_users() {
    each_backend(|db| {
        let s = &db.store;
        let w = world(s, "Acme", "106540352242922");
        assert_eq!(s.get_organization(w.org).unwrap().name, "Acme");
        assert_eq!(
            s.find_account(w.org, "106540352242922").unwrap().phone_number,
            "+15550783881"
        );
        assert_eq!(s.list_accounts(w.org, true).unwrap().len(), 1);
        // phone_number_id is unique across organizations.
        let other = s.create_organization("Other").unwrap().id;
        assert!(matches!(
            s.create_account(other, "106540352242922", "+15550783882", None),
            Err(Error::Conflict(_))
        ));
        assert!(matches!(
            s.find_account(other, "106540352242922"),
            Err(Error::NotFound(EntityKind::Account))
        ));
        assert!(matches!(
            s.create_account(w.org, "12a", "+15550783882", None),
            Err(Error::Invalid {
                field: "phone_number_id",
                ..
            })
        ));
        assert!(matches!(
            s.create_account(w.org, "1234567", "555", None),
            Err(Error::Invalid {
                field: "phone_number",
                ..
            })
        ));
        // Users: email unique per organization, valid, user scoped to its organization.
        assert!(matches!(
            s.create_user(w.org, "Dup", "agent@yourcompany.com"),
            Err(Error::Conflict(_))
        ));
        assert!(s
            .create_user(other, "Same email elsewhere", "agent@yourcompany.com")
            .is_ok());
        assert!(matches!(
            s.create_user(w.org, "Bad", "not-an-email"),
            Err(Error::Invalid { field: "email", .. })
        ));
        assert!(matches!(
            s.create_user(Id::new(), "Nobody", "x@example.com"),
            Err(Error::NotFound(EntityKind::Organization))
        ));
        assert_eq!(s.get_user(w.org, w.agent).unwrap().email, "agent@yourcompany.com");
        assert!(matches!(
            s.get_user(other, w.agent),
            Err(Error::NotFound(EntityKind::User))
        ));
        assert!(matches!(
            s.create_organization("   "),
            Err(Error::Invalid { field: "name", .. })
        ));
        s.ping().unwrap();
    });
}

#[test]
fn contacts_create_search_and_tags() {
    each_backend(|db| {
        let s = &db.store;
        let w = world(s, "Acme", "106540352242922");
        let made = s
            .create_contact(
                w.org,
                NewContact {
                    phone: "+1 (415) 555-0123".into(),
                    name: Some("Jane Doe".into()),
                    email: Some("jane@example.com".into()),
                    company: Some("Acme".into()),
                    metadata: Some(serde_json::json!({"plan": "gold"})),
                    ..Default::default()
                },
            )
            .unwrap();
        assert!(made.created);
        let jane = made.contact.contact.clone();
        assert_eq!(jane.phone, "+14155550123");
        assert_eq!(jane.metadata, Some(serde_json::json!({"plan": "gold"})));
        // The same phone in another spelling is the same contact.
        let again = s
            .create_contact(
                w.org,
                NewContact {
                    phone: "14155550123".into(),
                    ..Default::default()
                },
            )
            .unwrap();
        assert!(!again.created);
        assert_eq!(again.contact.contact.id, jane.id);
        assert!(matches!(
            s.create_contact(
                w.org,
                NewContact {
                    phone: "+1415".into(),
                    ..Default::default()
                }
            ),
            Err(Error::Invalid {
                field: "phone_number",
                ..
            })
        ));
        assert!(matches!(
            s.create_contact(
                w.org,
                NewContact {
                    phone: "+14155550999".into(),
                    metadata: Some(serde_json::json!([1])),
                    ..Default::default()
                }
            ),
            Err(Error::Invalid { field: "metadata", .. })
        ));

        let ahmed = contact(s, w.org, "+971501234567", "Ahmed Hassan");
        let sara = contact(s, w.org, "+14155557890", "Sarah Johnson");
        // Tags: created on first use with the default colour, attached once, colour updatable.
        let vip = s.attach_tag(w.org, ahmed, "vip", None).unwrap();
        assert_eq!(vip.color, "#3b82f6");
        assert_eq!(s.attach_tag(w.org, ahmed, "vip", None).unwrap().id, vip.id);
        let returning = s.attach_tag(w.org, ahmed, "returning", Some("#10B981")).unwrap();
        assert_eq!(returning.color, "#10b981");
        s.attach_tag(w.org, sara, "vip", None).unwrap();
        assert!(matches!(
            s.attach_tag(w.org, sara, "x", Some("blue")),
            Err(Error::Invalid { field: "color", .. })
        ));
        let got = s.get_contact(w.org, ahmed).unwrap();
        assert_eq!(
            got.tags.iter().map(|t| t.name.as_str()).collect::<Vec<_>>(),
            vec!["returning", "vip"]
        );

        let names = |filter: ContactFilter| -> Vec<String> {
            s.list_contacts(w.org, &filter, &PageRequest::first(50))
                .unwrap()
                .items
                .into_iter()
                .map(|c| c.contact.name.unwrap_or_default())
                .collect()
        };
        // Newest first.
        assert_eq!(
            names(ContactFilter::default()),
            vec!["Sarah Johnson", "Ahmed Hassan", "Jane Doe"]
        );
        assert_eq!(
            names(ContactFilter {
                search: Some("ahmed".into()),
                ..Default::default()
            }),
            vec!["Ahmed Hassan"]
        );
        assert_eq!(
            names(ContactFilter {
                search: Some("555-0123".into()),
                ..Default::default()
            }),
            vec!["Jane Doe"]
        );
        assert_eq!(
            names(ContactFilter {
                search: Some("100%_".into()),
                ..Default::default()
            }),
            Vec::<String>::new()
        );
        assert_eq!(
            names(ContactFilter {
                tag_id: Some(vip.id),
                ..Default::default()
            }),
            vec!["Sarah Johnson", "Ahmed Hassan"]
        );
        assert_eq!(
            names(ContactFilter {
                phone: Some("+971501234567".into()),
                ..Default::default()
            }),
            vec!["Ahmed Hassan"]
        );

        s.detach_tag(w.org, ahmed, vip.id).unwrap();
        assert_eq!(
            names(ContactFilter {
                tag_id: Some(vip.id),
                ..Default::default()
            }),
            vec!["Sarah Johnson"]
        );

        // Paging: walk with limit 1, cursors bound to their filter.
        let mut seen = Vec::new();
        let mut cursor = None;
        loop {
            let page = s
                .list_contacts(
                    w.org,
                    &ContactFilter::default(),
                    &PageRequest::Keyset { limit: 1, cursor },
                )
                .unwrap();
            seen.extend(page.items.iter().map(|c| c.contact.id));
            assert_eq!(page.has_more, page.next_cursor.is_some());
            match page.next_cursor {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        assert_eq!(seen.len(), 3);
        let first = s
            .list_contacts(w.org, &ContactFilter::default(), &PageRequest::first(1))
            .unwrap();
        let other_filter = ContactFilter {
            search: Some("a".into()),
            ..Default::default()
        };
        assert!(matches!(
            s.list_contacts(
                w.org,
                &other_filter,
                &PageRequest::Keyset {
                    limit: 1,
                    cursor: first.next_cursor
                }
            ),
            Err(Error::InvalidCursor(CursorError::FilterMismatch))
        ));
        let offset = s
            .list_contacts(
                w.org,
                &ContactFilter::default(),
                &PageRequest::Offset { page: 2, limit: 2 },
            )
            .unwrap();
        assert_eq!((offset.items.len(), offset.total, offset.has_more), (1, Some(3), false));
    });
}

/// Builds `n` conversations with messages at distinct times, a few without any message.
fn conversations(s: &dyn Store, w: &common::World, n: usize) -> Vec<Id> {
    let mut ids = Vec::new();
    for i in 0..n {
        let ct = contact(s, w.org, &format!("+4477009{i:05}"), &format!("Customer {i}"));
        let conv = s.open_conversation(w.org, w.account, ct).unwrap();
        // Every third conversation stays without messages; the others get one at a shuffled time.
        if i % 3 != 0 {
            let at = 1_780_000_000_000 + ((i * 7919) % 1000) as i64 * 60_000;
            s.append_message(w.org, inbound(conv.id, &format!("wamid.{i}"), "hello", at))
                .unwrap();
        }
        if i % 4 == 0 {
            s.assign(w.org, conv.id, Some(w.agent)).unwrap();
        }
        if i % 5 == 0 {
            s.set_status(w.org, conv.id, ConversationStatus::Pending, None).unwrap();
        }
        ids.push(conv.id);
    }
    ids
}

fn walk(
    s: &dyn Store,
    org: Id,
    filter: &ConversationFilter,
    order: ConversationOrder,
    limit: u32,
) -> Vec<ConversationDetail> {
    let mut all = Vec::new();
    let mut cursor = None;
    loop {
        let page = s
            .list_conversations(org, filter, order, &PageRequest::Keyset { limit, cursor })
            .unwrap();
        assert!(page.items.len() <= limit as usize);
        all.extend(page.items);
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => return all,
        }
    }
}

fn expected_order(list: &[ConversationDetail], order: ConversationOrder) -> Vec<Id> {
    let mut sorted: Vec<&ConversationDetail> = list.iter().collect();
    let key = |d: &ConversationDetail| -> i64 {
        let c = &d.conversation;
        match order {
            ConversationOrder::CreatedDesc => c.created_at.millis(),
            ConversationOrder::LastMessageDesc => c.last_message_at.map_or(-1, |t| t.millis()),
            ConversationOrder::LastActivityDesc => c.last_message_at.unwrap_or(c.created_at).max(c.created_at).millis(),
        }
    };
    sorted.sort_by(|a, b| key(b).cmp(&key(a)).then(b.conversation.id.cmp(&a.conversation.id)));
    sorted.into_iter().map(|d| d.conversation.id).collect()
}

#[test]
fn conversation_lists_walk_every_row_once_in_every_ordering() {
    each_backend(|db| {
        let s = &db.store;
        let w = world(s, "Acme", "106540352242922");
        let ids = conversations(s, &w, 23);
        for order in ConversationOrder::ALL {
            for limit in [1, 2, 5, 7, 50] {
                let walked = walk(s, w.org, &ConversationFilter::default(), order, limit);
                let got: Vec<Id> = walked.iter().map(|d| d.conversation.id).collect();
                assert_eq!(got.len(), ids.len(), "{order:?} limit {limit}");
                assert_eq!(got.iter().collect::<HashSet<_>>().len(), ids.len());
                assert_eq!(got, expected_order(&walked, order), "{order:?} limit {limit}");
            }
        }
        // Nulls last: the conversations without a message end the kirim ordering.
        let by_last = walk(
            s,
            w.org,
            &ConversationFilter::default(),
            ConversationOrder::LastMessageDesc,
            100,
        );
        let nulls = by_last
            .iter()
            .skip_while(|d| d.conversation.last_message_at.is_some())
            .collect::<Vec<_>>();
        assert_eq!(nulls.len(), 8);
        assert!(nulls.iter().all(|d| d.conversation.last_message_at.is_none()));

        // A walk while new conversations arrive still yields every old one exactly once.
        let mut seen = Vec::new();
        let mut cursor = None;
        let mut k = 0;
        loop {
            let page = s
                .list_conversations(
                    w.org,
                    &ConversationFilter::default(),
                    ConversationOrder::CreatedDesc,
                    &PageRequest::Keyset { limit: 4, cursor },
                )
                .unwrap();
            seen.extend(page.items.iter().map(|d| d.conversation.id));
            let ct = contact(s, w.org, &format!("+4477008{k:05}"), "Newcomer");
            s.open_conversation(w.org, w.account, ct).unwrap();
            k += 1;
            match page.next_cursor {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        assert_eq!(seen.iter().collect::<HashSet<_>>(), ids.iter().collect::<HashSet<_>>());
        assert_eq!(seen.len(), ids.len());
    });
}

#[test]
fn conversation_filters_offsets_and_cursors() {
    each_backend(|db| {
        let s = &db.store;
        let w = world(s, "Acme", "106540352242922");
        let ids = conversations(s, &w, 20);
        let all = walk(
            s,
            w.org,
            &ConversationFilter::default(),
            ConversationOrder::CreatedDesc,
            100,
        );

        let count = |filter: ConversationFilter| walk(s, w.org, &filter, ConversationOrder::LastActivityDesc, 3).len();
        let pending = ConversationStatus::matching(Dialect::Wacrm, "pending");
        assert_eq!(
            count(ConversationFilter {
                statuses: Some(pending.clone()),
                ..Default::default()
            }),
            4
        );
        assert_eq!(
            count(ConversationFilter {
                statuses: Some(ConversationStatus::matching(Dialect::Wacrm, "open")),
                ..Default::default()
            }),
            16
        );
        assert_eq!(
            count(ConversationFilter {
                statuses: Some(vec![]),
                ..Default::default()
            }),
            0
        );
        assert_eq!(
            count(ConversationFilter {
                assignee_id: Some(w.agent),
                ..Default::default()
            }),
            5
        );
        assert_eq!(
            count(ConversationFilter {
                account_id: Some(w.account),
                ..Default::default()
            }),
            20
        );
        let c0 = all
            .iter()
            .find(|d| d.conversation.id == ids[0])
            .unwrap()
            .contact
            .contact
            .id;
        assert_eq!(
            count(ConversationFilter {
                contact_id: Some(c0),
                ..Default::default()
            }),
            1
        );
        assert_eq!(
            count(ConversationFilter {
                statuses: Some(pending.clone()),
                assignee_id: Some(w.agent),
                ..Default::default()
            }),
            1 // i = 0: assigned and pending
        );

        // Offset paging with exact totals; past the end is empty.
        let filter = ConversationFilter {
            statuses: Some(ConversationStatus::matching(Dialect::Envelope, "open")),
            ..Default::default()
        };
        let p1 = s
            .list_conversations(
                w.org,
                &filter,
                ConversationOrder::LastActivityDesc,
                &PageRequest::Offset { page: 1, limit: 6 },
            )
            .unwrap();
        assert_eq!((p1.items.len(), p1.total, p1.has_more), (6, Some(20), true));
        let p4 = s
            .list_conversations(
                w.org,
                &filter,
                ConversationOrder::LastActivityDesc,
                &PageRequest::Offset { page: 4, limit: 6 },
            )
            .unwrap();
        assert_eq!((p4.items.len(), p4.total, p4.has_more), (2, Some(20), false));
        let p9 = s
            .list_conversations(
                w.org,
                &filter,
                ConversationOrder::LastActivityDesc,
                &PageRequest::Offset { page: 9, limit: 6 },
            )
            .unwrap();
        assert_eq!((p9.items.len(), p9.total, p9.has_more), (0, Some(20), false));
        let mut offset_ids = Vec::new();
        for page in 1..=4 {
            let p = s
                .list_conversations(
                    w.org,
                    &filter,
                    ConversationOrder::LastActivityDesc,
                    &PageRequest::Offset { page, limit: 6 },
                )
                .unwrap();
            offset_ids.extend(p.items.into_iter().map(|d| d.conversation.id));
        }
        let keyset_ids: Vec<Id> = walk(s, w.org, &filter, ConversationOrder::LastActivityDesc, 6)
            .into_iter()
            .map(|d| d.conversation.id)
            .collect();
        assert_eq!(offset_ids, keyset_ids);

        // Cursors: bound to filters and ordering, tamper-evident, and good on another store instance.
        let first = s
            .list_conversations(
                w.org,
                &ConversationFilter::default(),
                ConversationOrder::CreatedDesc,
                &PageRequest::first(5),
            )
            .unwrap();
        let cursor = first.next_cursor.clone().unwrap();
        let again = |filter: &ConversationFilter, order, cursor: &str| {
            s.list_conversations(
                w.org,
                filter,
                order,
                &PageRequest::Keyset {
                    limit: 5,
                    cursor: Some(cursor.to_owned()),
                },
            )
        };
        assert!(matches!(
            again(
                &ConversationFilter {
                    statuses: Some(pending),
                    ..Default::default()
                },
                ConversationOrder::CreatedDesc,
                &cursor
            ),
            Err(Error::InvalidCursor(CursorError::FilterMismatch))
        ));
        assert!(matches!(
            again(
                &ConversationFilter::default(),
                ConversationOrder::LastMessageDesc,
                &cursor
            ),
            Err(Error::InvalidCursor(_))
        ));
        let mut forged = cursor.clone().into_bytes();
        forged[10] = if forged[10] == b'A' { b'B' } else { b'A' };
        assert!(matches!(
            again(
                &ConversationFilter::default(),
                ConversationOrder::CreatedDesc,
                &String::from_utf8(forged).unwrap()
            ),
            Err(Error::InvalidCursor(_))
        ));
        assert!(matches!(
            again(
                &ConversationFilter::default(),
                ConversationOrder::CreatedDesc,
                "eyJpZCI6IjEifQ"
            ),
            Err(Error::InvalidCursor(CursorError::Malformed))
        ));
        let second_instance = rosetta_store::DieselStore::open(&db.url).unwrap();
        let page2 = second_instance
            .list_conversations(
                w.org,
                &ConversationFilter::default(),
                ConversationOrder::CreatedDesc,
                &PageRequest::Keyset {
                    limit: 5,
                    cursor: Some(cursor),
                },
            )
            .unwrap();
        assert_eq!(page2.items.len(), 5);
        assert_eq!(page2.items[0].conversation.id, all[5].conversation.id);
    });
}

#[test]
fn conversation_detail_status_assignment_and_read() {
    each_backend(|db| {
        let s = &db.store;
        let w = world(s, "Acme", "106540352242922");
        let ct = contact(s, w.org, "+971501234567", "Ahmed Hassan");
        s.attach_tag(w.org, ct, "vip", None).unwrap();
        let conv = s.open_conversation(w.org, w.account, ct).unwrap();
        assert_eq!(
            s.open_conversation(w.org, w.account, ct).unwrap().id,
            conv.id,
            "one conversation per account and contact"
        );
        s.append_message(
            w.org,
            inbound(conv.id, "wamid.1", "When will my order arrive?", 1_779_000_000_000),
        )
        .unwrap();
        s.append_message(w.org, inbound(conv.id, "wamid.2", "Hello?", 1_779_000_060_000))
            .unwrap();

        let detail = s.get_conversation(w.org, conv.id).unwrap();
        assert_eq!(detail.contact.contact.name.as_deref(), Some("Ahmed Hassan"));
        assert_eq!(detail.contact.tags.len(), 1);
        assert_eq!(detail.account.phone_number_id, "106540352242922");
        assert!(detail.assignee.is_none());
        let c = detail.conversation;
        assert_eq!((c.unread_count, c.last_message_text.as_deref()), (2, Some("Hello?")));
        assert_eq!(c.last_message_at, Some(Timestamp(1_779_000_060_000)));
        assert_eq!(c.last_inbound_at, Some(Timestamp(1_779_000_060_000)));
        assert_eq!(c.first_message_at, Some(Timestamp(1_779_000_000_000)));
        assert_eq!(c.last_message_direction, Some(Direction::Inbound));

        // Assign: a member of the organization; anyone else is refused and nothing changes.
        let assigned = s.assign(w.org, conv.id, Some(w.agent)).unwrap();
        assert_eq!(assigned.assignee_id, Some(w.agent));
        assert_eq!(
            s.get_conversation(w.org, conv.id).unwrap().assignee.unwrap().name,
            "Support Agent"
        );
        let foreign = world(s, "Other", "106540352242923");
        assert_eq!(
            s.assign(w.org, conv.id, Some(foreign.agent)).unwrap_err(),
            Error::NotMember
        );
        assert_eq!(s.assign(w.org, conv.id, Some(Id::new())).unwrap_err(), Error::NotMember);
        assert_eq!(
            s.get_conversation(w.org, conv.id).unwrap().conversation.assignee_id,
            Some(w.agent)
        );
        assert_eq!(s.assign(w.org, conv.id, None).unwrap().assignee_id, None);

        // Close keeps the first close; reopening clears it; the status moves through every status.
        let closed = s.close(w.org, conv.id, Some("resolved"), Some(w.agent2)).unwrap();
        assert_eq!(closed.status, ConversationStatus::Closed);
        assert_eq!(closed.closed_by, Some(w.agent2));
        assert!(closed.closed_at.is_some());
        let twice = s.close(w.org, conv.id, Some("spam"), Some(w.agent)).unwrap();
        assert_eq!(
            (twice.resolution.as_deref(), twice.closed_by, twice.closed_at),
            (Some("resolved"), Some(w.agent2), closed.closed_at)
        );
        assert_eq!(
            s.close(w.org, conv.id, None, Some(foreign.agent)).unwrap_err(),
            Error::NotMember
        );
        let reopened = s.set_status(w.org, conv.id, ConversationStatus::Open, None).unwrap();
        assert_eq!(
            (
                reopened.status,
                reopened.closed_at,
                reopened.closed_by,
                reopened.resolution
            ),
            (ConversationStatus::Open, None, None, None)
        );
        for status in ConversationStatus::ALL.into_iter().chain([ConversationStatus::Closed]) {
            assert_eq!(s.set_status(w.org, conv.id, status, None).unwrap().status, status);
        }
        assert!(s
            .get_conversation(w.org, conv.id)
            .unwrap()
            .conversation
            .closed_at
            .is_some());
        // An inbound message reopens a closed conversation.
        s.append_message(w.org, inbound(conv.id, "wamid.3", "Still there?", 1_779_000_120_000))
            .unwrap();
        let c = s.get_conversation(w.org, conv.id).unwrap().conversation;
        assert_eq!(
            (c.status, c.unread_count, c.closed_at),
            (ConversationStatus::Open, 3, None)
        );
        // A reply clears unread; the next inbound message counts from there.
        let mut reply = inbound(conv.id, "wamid.4", "On its way!", 1_779_000_180_000);
        reply.direction = Direction::Outbound;
        reply.sender_type = SenderType::Agent;
        reply.sender_user_id = Some(w.agent);
        reply.status = MessageStatus::Sent;
        s.append_message(w.org, reply).unwrap();
        assert_eq!(s.get_conversation(w.org, conv.id).unwrap().conversation.unread_count, 0);
        s.append_message(w.org, inbound(conv.id, "wamid.5", "Thanks", 1_779_000_240_000))
            .unwrap();
        assert_eq!(s.get_conversation(w.org, conv.id).unwrap().conversation.unread_count, 1);
    });
}

#[test]
fn update_conversation_applies_status_and_assignee_together_or_not_at_all() {
    each_backend(|db| {
        let s = rosetta_store::DieselStore::open(&db.url).unwrap();
        let w = world(&s, "Acme", "106540352242922");
        let jane = contact(&s, w.org, "+14155550123", "Jane");
        let id = s.open_conversation(w.org, w.account, jane).unwrap().id;
        let outsider = {
            let other = s.create_organization("Other").unwrap().id;
            s.create_user(other, "X", "x@other.com").unwrap().id
        };
        let refused = s.update_conversation(
            w.org,
            id,
            ConversationUpdate {
                status: Some(ConversationStatus::Closed),
                assignee: Some(Some(outsider)),
                ..Default::default()
            },
        );
        assert_eq!(refused.unwrap_err(), Error::NotMember);
        let c = s.get_conversation(w.org, id).unwrap().conversation;
        assert_eq!(
            (c.status, c.closed_at, c.assignee_id),
            (ConversationStatus::Open, None, None)
        );

        let both = s
            .update_conversation(
                w.org,
                id,
                ConversationUpdate {
                    status: Some(ConversationStatus::Closed),
                    assignee: Some(Some(w.agent)),
                    ..Default::default()
                },
            )
            .unwrap();
        assert_eq!(both.conversation.status, ConversationStatus::Closed);
        assert!(both.conversation.closed_at.is_some());
        assert_eq!(both.assignee.map(|u| u.id), Some(w.agent));
        // Asked in kirim, "open" on an escalated conversation keeps it escalated.
        s.set_status(w.org, id, ConversationStatus::Escalated, None).unwrap();
        let kept = s
            .update_conversation(
                w.org,
                id,
                ConversationUpdate {
                    status: Some(ConversationStatus::Open),
                    asked_in: Some(Dialect::Kirim),
                    assignee: Some(None),
                    ..Default::default()
                },
            )
            .unwrap();
        assert_eq!(
            (kept.conversation.status, kept.assignee.is_none()),
            (ConversationStatus::Escalated, true)
        );
        assert_eq!(
            s.update_conversation(w.org, Id::new(), ConversationUpdate::default())
                .unwrap_err(),
            Error::NotFound(EntityKind::Conversation)
        );
    });
}

/// Page/limit lists in last-activity order count through the bucket counters (migration 4): every
/// page of every filter equals the same slice of the keyset walk, and every total is exact, after
/// inserts, messages that move conversations across buckets, status changes, assignments, closes,
/// reopens and ingest.
#[test]
fn offset_pages_and_totals_follow_every_change() {
    each_backend(|db| {
        let s = rosetta_store::DieselStore::open(&db.url).unwrap();
        let w = world(&s, "Acme", "106540352242922");
        let day = 86_400_000;
        let base = Timestamp::parse_rfc3339("2026-03-01T00:00:00Z").unwrap().millis();
        let mut ids = Vec::new();
        for i in 0..40 {
            let c = contact(&s, w.org, &format!("+1415555{i:04}"), "C");
            let id = s.open_conversation(w.org, w.account, c).unwrap().id;
            if i % 5 != 0 {
                // Spread over ~20 days, several messages each: conversations move across buckets.
                for m in 0..(i % 3 + 1) {
                    let at = base + (i as i64 % 20) * day + m as i64 * 3 * day / 2;
                    s.append_message(w.org, inbound(id, &format!("wamid.{i}.{m}"), "x", at))
                        .unwrap();
                }
            }
            let status = ConversationStatus::ALL[i % 5];
            s.set_status(w.org, id, status, None).unwrap();
            if i % 3 == 0 {
                s.assign(w.org, id, Some(if i % 2 == 0 { w.agent } else { w.agent2 }))
                    .unwrap();
            }
            ids.push(id);
        }
        s.set_status(w.org, ids[4], ConversationStatus::Open, None).unwrap();
        s.assign(w.org, ids[3], None).unwrap();
        s.close(w.org, ids[6], None, None).unwrap();

        let filters = [
            ConversationFilter::default(),
            ConversationFilter {
                statuses: Some(ConversationStatus::matching(Dialect::Envelope, "open")),
                ..Default::default()
            },
            ConversationFilter {
                statuses: Some(vec![ConversationStatus::Closed]),
                ..Default::default()
            },
            ConversationFilter {
                assignee_id: Some(w.agent),
                ..Default::default()
            },
            ConversationFilter {
                assignee_id: Some(w.agent2),
                statuses: Some(ConversationStatus::matching(Dialect::Envelope, "open")),
                ..Default::default()
            },
        ];
        let order = ConversationOrder::LastActivityDesc;
        for filter in &filters {
            let all: Vec<Id> = walk(&s, w.org, filter, order, 100)
                .into_iter()
                .map(|d| d.conversation.id)
                .collect();
            for limit in [1, 3, 7] {
                for page in 1..=(all.len() as u32 / limit + 2) {
                    let got = s
                        .list_conversations(w.org, filter, order, &PageRequest::Offset { page, limit })
                        .unwrap();
                    let from = ((page - 1) * limit) as usize;
                    let want: Vec<Id> = all.iter().skip(from).take(limit as usize).copied().collect();
                    let ids: Vec<Id> = got.items.iter().map(|d| d.conversation.id).collect();
                    assert_eq!(ids, want, "{filter:?} page {page} limit {limit} on {}", db.backend());
                    assert_eq!(got.total, Some(all.len() as u64));
                    assert_eq!(got.has_more, from + ids.len() < all.len());
                }
            }
        }
    });
}

#[test]
fn messages_newest_first_redelivery_and_replies() {
    each_backend(|db| {
        let s = &db.store;
        let w = world(s, "Acme", "106540352242922");
        let ct = contact(s, w.org, "+971501234567", "Ahmed Hassan");
        let conv = s.open_conversation(w.org, w.account, ct).unwrap().id;
        for i in 0..7 {
            s.append_message(
                w.org,
                inbound(
                    conv,
                    &format!("wamid.{i}"),
                    &format!("m{i}"),
                    1_779_000_000_000 + i * 1000,
                ),
            )
            .unwrap();
        }
        // Redelivery: same wamid, no second message, no second unread.
        let again = s
            .append_message(w.org, inbound(conv, "wamid.6", "m6", 1_779_000_006_000))
            .unwrap();
        assert_eq!(again.body.text.as_deref(), Some("m6"));
        assert_eq!(s.get_conversation(w.org, conv).unwrap().conversation.unread_count, 7);
        // An outbound reply to a stored message, by an agent.
        let reply = s
            .append_message(
                w.org,
                NewMessage {
                    conversation_id: conv,
                    wamid: Some("wamid.out".into()),
                    direction: Direction::Outbound,
                    sender_type: SenderType::Agent,
                    sender_user_id: Some(w.agent),
                    content_type: ContentType::Image,
                    body: MessageBody {
                        media_id: Some("1234".into()),
                        mime_type: Some("image/jpeg".into()),
                        text: Some("caption".into()),
                        context_wamid: Some("wamid.2".into()),
                        ..Default::default()
                    },
                    status: MessageStatus::Sent,
                    created_at: Timestamp(1_779_000_010_000),
                },
            )
            .unwrap();
        assert!(reply.body.reply_to_message_id.is_some());
        let conversation = s.get_conversation(w.org, conv).unwrap().conversation;
        assert_eq!(
            (conversation.unread_count, conversation.last_message_direction),
            (0, Some(Direction::Outbound)),
            "the reply, the newest message, clears unread"
        );

        let mut texts = Vec::new();
        let mut cursor = None;
        loop {
            let page = s
                .list_messages(w.org, conv, &PageRequest::Keyset { limit: 3, cursor })
                .unwrap();
            texts.extend(page.items.iter().map(|m| m.body.text.clone().unwrap_or_default()));
            match page.next_cursor {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        assert_eq!(texts, vec!["caption", "m6", "m5", "m4", "m3", "m2", "m1", "m0"]);
        let stored = s
            .list_messages(w.org, conv, &PageRequest::first(1))
            .unwrap()
            .items
            .remove(0);
        assert_eq!(stored, reply);
        // A cursor of one conversation is not good for another.
        let ct2 = contact(s, w.org, "+971501234568", "Other");
        let conv2 = s.open_conversation(w.org, w.account, ct2).unwrap().id;
        let cursor = s
            .list_messages(w.org, conv, &PageRequest::first(1))
            .unwrap()
            .next_cursor;
        assert!(matches!(
            s.list_messages(w.org, conv2, &PageRequest::Keyset { limit: 1, cursor }),
            Err(Error::InvalidCursor(_))
        ));
    });
}

#[test]
fn no_operation_reaches_another_organization() {
    each_backend(|db| {
        let s = &db.store;
        let a = world(s, "A", "106540352242922");
        let b = world(s, "B", "106540352242923");
        let ct = contact(s, a.org, "+971501234567", "Ahmed Hassan");
        let tag = s.attach_tag(a.org, ct, "vip", None).unwrap();
        let conv = s.open_conversation(a.org, a.account, ct).unwrap().id;
        s.append_message(a.org, inbound(conv, "wamid.a", "secret", 1_779_000_000_000))
            .unwrap();

        let nf = |r: Result<()>, kind: EntityKind| assert_eq!(r.unwrap_err(), Error::NotFound(kind));
        use EntityKind::*;
        nf(s.get_conversation(b.org, conv).map(|_| ()), Conversation);
        nf(
            s.update_conversation(b.org, conv, ConversationUpdate::close(None, None))
                .map(|_| ()),
            Conversation,
        );
        nf(
            s.update_conversation(b.org, conv, ConversationUpdate::assign(Some(b.agent)))
                .map(|_| ()),
            Conversation,
        );
        nf(
            s.list_messages(b.org, conv, &PageRequest::first(10)).map(|_| ()),
            Conversation,
        );
        nf(
            s.append_message(b.org, inbound(conv, "wamid.b", "x", 1)).map(|_| ()),
            Conversation,
        );
        nf(s.get_contact(b.org, ct).map(|_| ()), Contact);
        nf(s.attach_tag(b.org, ct, "vip", None).map(|_| ()), Contact);
        nf(s.detach_tag(b.org, ct, tag.id).map(|_| ()), Contact);
        let b_contact = contact(s, b.org, "+971501234567", "Same phone, other org");
        assert_ne!(b_contact, ct);
        nf(s.detach_tag(b.org, b_contact, tag.id), Tag);
        nf(s.open_conversation(b.org, a.account, b_contact).map(|_| ()), Account);
        nf(s.open_conversation(b.org, b.account, ct).map(|_| ()), Contact);
        nf(s.get_user(b.org, a.agent).map(|_| ()), User);
        nf(s.find_account(b.org, "106540352242922").map(|_| ()), Account);
        // Lists see only their organization; a filter naming the other's row is that row's NotFound.
        let page = s
            .list_conversations(
                b.org,
                &ConversationFilter::default(),
                ConversationOrder::CreatedDesc,
                &PageRequest::first(100),
            )
            .unwrap();
        assert!(page.items.iter().all(|d| d.conversation.org_id == b.org));
        for (filter, kind) in [
            (
                ConversationFilter {
                    contact_id: Some(ct),
                    ..Default::default()
                },
                Contact,
            ),
            (
                ConversationFilter {
                    account_id: Some(a.account),
                    ..Default::default()
                },
                Account,
            ),
            (
                ConversationFilter {
                    assignee_id: Some(a.agent),
                    ..Default::default()
                },
                User,
            ),
        ] {
            for order in ConversationOrder::ALL {
                for page in [PageRequest::first(100), PageRequest::Offset { page: 1, limit: 20 }] {
                    nf(s.list_conversations(b.org, &filter, order, &page).map(|_| ()), kind);
                }
            }
        }
        nf(
            s.list_contacts(
                b.org,
                &ContactFilter {
                    tag_id: Some(tag.id),
                    ..Default::default()
                },
                &PageRequest::first(100),
            )
            .map(|_| ()),
            Tag,
        );
        // A cursor from A's list is refused in B's.
        s.open_conversation(a.org, a.account, contact(s, a.org, "+971501234569", "Second"))
            .unwrap();
        let cursor = s
            .list_conversations(
                a.org,
                &ConversationFilter::default(),
                ConversationOrder::CreatedDesc,
                &PageRequest::first(1),
            )
            .unwrap()
            .next_cursor;
        assert!(matches!(
            s.list_conversations(
                b.org,
                &ConversationFilter::default(),
                ConversationOrder::CreatedDesc,
                &PageRequest::Keyset { limit: 1, cursor }
            ),
            Err(Error::InvalidCursor(CursorError::OtherOrganization))
        ));
        nf(s.list_messages_before(b.org, conv, None, 10).map(|_| ()), Conversation);
        let foreign_send = NewSend {
            message: inbound(conv, "unused", "x", 1),
            payload: serde_json::json!({}),
            recipient: "971501234567".into(),
            deadline_at: Timestamp(i64::MAX),
        };
        nf(s.enqueue_send(b.org, foreign_send).map(|_| ()), Conversation);
        let token = AccessToken::new("EAAG-tenancy").unwrap();
        s.set_account_token(a.org, a.account, &token).unwrap();
        let foreign = |recipient| SendRequest {
            recipient,
            content: Content::Template {
                name: "hello".into(),
                language: "en_US".into(),
                components: None,
            },
            reply_to: None,
            sender_type: SenderType::Agent,
            sender_user_id: None,
            idempotency: None,
            deadline_at: Timestamp(i64::MAX),
        };
        nf(
            s.send(b.org, foreign(Recipient::Conversation(conv))).map(|_| ()),
            Conversation,
        );
        let on_a = Recipient::Phone {
            account: a.account,
            phone: "+971501234567".into(),
            name: None,
        };
        nf(s.send(b.org, foreign(on_a)).map(|_| ()), Account);
        let a_message = s.list_messages(a.org, conv, &PageRequest::first(1)).unwrap().items[0].id;
        nf(s.get_message(b.org, a_message).map(|_| ()), Message);
        nf(s.message_by_wamid(b.org, "wamid.a").map(|_| ()), Message);
        nf(s.mark_read(b.org, a_message).map(|_| ()), Message);
        nf(
            s.update_contact(b.org, ct, ContactChanges::default()).map(|_| ()),
            Contact,
        );
        nf(s.set_account_token(b.org, a.account, &token), Account);
        nf(s.account_token(b.org, a.account).map(|_| ()), Account);
        nf(s.flag_account_token(b.org, a.account), Account);
        // A's events are A's: B's log has only B's own.
        s.sequence_events().unwrap();
        assert!(!s.events_after(a.org, 0, 100).unwrap().is_empty());
        assert!(s.newest_event(b.org).unwrap() < s.newest_event(a.org).unwrap());
        assert!(s.events_after(b.org, 0, 100).unwrap().iter().all(|e| e.org_id == b.org));
        // A's webhook endpoints: B finds none, can change or remove none, and lists only its own.
        let hook = s
            .create_webhook(
                a.org,
                rosetta_core::webhooks::NewWebhook {
                    dialect: Dialect::Wacrm,
                    url: "https://hooks.a.test/in".into(),
                    events: vec!["message.received".into()],
                    description: None,
                    is_active: true,
                },
            )
            .unwrap()
            .webhook
            .id;
        nf(s.get_webhook(b.org, Dialect::Wacrm, hook).map(|_| ()), Webhook);
        nf(
            s.update_webhook(b.org, Dialect::Wacrm, hook, Default::default())
                .map(|_| ()),
            Webhook,
        );
        nf(
            s.rotate_webhook_secret(b.org, Dialect::Wacrm, hook, Timestamp::now())
                .map(|_| ()),
            Webhook,
        );
        nf(s.delete_webhook(b.org, Dialect::Wacrm, hook), Webhook);
        assert!(s.list_webhooks(b.org, Dialect::Wacrm).unwrap().is_empty());
        // Another dialect's endpoint is not this dialect's either.
        nf(s.get_webhook(a.org, Dialect::Kirim, hook).map(|_| ()), Webhook);
        // Versions are per organization: B's moves with B's writes only.
        let b_before = s.org_version(b.org).unwrap();
        s.attach_tag(a.org, ct, "a-only", None).unwrap();
        assert_eq!(s.org_version(b.org).unwrap(), b_before);
        // A's deliveries: B lists none of them (nor by A's subscription), reads and replays none.
        s.fan_out_events(
            &|_, e, _| {
                Some(rosetta_core::events::Rendered {
                    name: "message.received",
                    body: serde_json::json!({}),
                    dedupe_key: e.id.to_string(),
                    source: "test",
                })
            },
            1000,
        )
        .unwrap();
        let none = rosetta_core::webhooks::DeliveryFilter::default();
        let by_hook = rosetta_core::webhooks::DeliveryFilter {
            webhook_id: Some(hook),
            ..Default::default()
        };
        assert!(s
            .list_webhook_deliveries(b.org, Dialect::Wacrm, &none, &PageRequest::first(10))
            .unwrap()
            .items
            .is_empty());
        nf(
            s.list_webhook_deliveries(b.org, Dialect::Wacrm, &by_hook, &PageRequest::first(10))
                .map(|_| ()),
            Webhook,
        );
        let delivery = rosetta_core::Id::new();
        nf(
            s.get_webhook_delivery(b.org, Dialect::Wacrm, delivery).map(|_| ()),
            WebhookDelivery,
        );
        nf(
            s.replay_webhook_deliveries(
                b.org,
                Dialect::Wacrm,
                &rosetta_core::webhooks::Replay::Ids(vec![delivery]),
            )
            .map(|_| ()),
            WebhookDelivery,
        );
        assert_eq!(s.list_webhooks(a.org, Dialect::Wacrm).unwrap().len(), 1);
        // A's uploaded file: B can neither upload for A's number nor send A's file, even to its own
        // conversation; nothing of B's is written by the refusal.
        let upload = |account| rosetta_core::media::NewUpload {
            account_id: account,
            sha256: "ab".repeat(32),
            size: 1000,
            mime_type: "image/png".into(),
            filename: None,
        };
        nf(s.create_upload(b.org, upload(Some(a.account))).map(|_| ()), Account);
        let a_file = s.create_upload(a.org, upload(Some(a.account))).unwrap().id;
        let b_contact_conv = {
            let c = contact(s, b.org, "+971501230000", "Bee");
            s.open_conversation(b.org, b.account, c).unwrap().id
        };
        let mut sending_a_file = foreign(Recipient::Conversation(b_contact_conv));
        sending_a_file.content = Content::Media {
            kind: ContentType::Image,
            source: MediaSource::Upload(a_file),
            caption: None,
            filename: None,
        };
        nf(s.send(b.org, sending_a_file).map(|_| ()), Media);
        assert!(s
            .list_messages(b.org, b_contact_conv, &PageRequest::first(10))
            .unwrap()
            .items
            .is_empty());
        // Creating in B never touches or reveals A's rows.
        let made = s
            .create_contact(
                b.org,
                NewContact {
                    phone: "+971501234567".into(),
                    ..Default::default()
                },
            )
            .unwrap();
        assert_eq!((made.contact.contact.id, made.created), (b_contact, false));
        assert!(matches!(
            s.create_account(b.org, "106540352242922", "+15550783881", None),
            Err(Error::Conflict(_))
        ));
        assert!(s.list_accounts(b.org, false).unwrap().iter().all(|x| x.org_id == b.org));
        assert_eq!(
            s.create_user(b.org, "Other", "third@yourcompany.com").unwrap().org_id,
            b.org
        );
        assert_eq!(s.get_organization(b.org).unwrap().id, b.org);
        assert_eq!(
            s.create_api_key(
                b.org,
                NewApiKey {
                    name: None,
                    style: KeyStyle::Kirim,
                    scopes: key::parse_scopes(None).unwrap(),
                    expires_at: None,
                }
            )
            .unwrap()
            .key
            .org_id,
            b.org
        );
        // An idempotency key A used is new in B, and B's completion is not replayed to A.
        let response = StoredResponse {
            status: 201,
            body: "{}".into(),
        };
        assert_eq!(
            s.claim_idempotency_key(a.org, "k1", "f").unwrap(),
            IdempotencyClaim::Claimed
        );
        s.complete_idempotency_key(a.org, "k1", &response).unwrap();
        assert_eq!(
            s.claim_idempotency_key(b.org, "k1", "g").unwrap(),
            IdempotencyClaim::Claimed
        );
        s.release_idempotency_key(b.org, "k1").unwrap();
        assert_eq!(
            s.claim_idempotency_key(a.org, "k1", "f").unwrap(),
            IdempotencyClaim::Replay(response)
        );
    });
}

/// `no_operation_reaches_another_organization` calls every `Store` method that takes an
/// organization: a method added to the trait without a case there fails this test.
#[test]
fn every_store_operation_has_a_tenancy_case() {
    // Operations that take no organization, and why.
    const NOT_TENANT_SCOPED: &[&str] = &[
        "ping",                      // the database answers
        "create_organization",       // makes the tenant itself
        "ingest",                    // Meta names only the number; accounts are found across organizations
        "revoke_api_key",            // the operator's CLI, by key id
        "touch_api_keys",            // bookkeeping of keys already authenticated
        "authenticate",              // finds the key, and so the organization, from the secret
        "claim_dispatch",            // dispatch workers send for every organization
        "finish_dispatch",           // by the id of a job a worker claimed
        "finish_dispatches",         // the same, several at once
        "claim_media",               // fetch workers fetch for every organization
        "finish_media",              // by the id of a job a worker claimed
        "media_links",               // the database's signer, no tenant data
        "media_file",                // by the message a signed link names: the link is the permission
        "prune_media",               // retention is the deployment's, across organizations
        "remember_meta_media",       // by the message of a job a worker claimed
        "sequence_events",           // the sequencer orders the whole log, every organization's
        "prune_events",              // retention is the deployment's, across organizations
        "fan_out_events",            // the fan-out serves every organization's subscriptions
        "claim_webhook_deliveries",  // delivery workers deliver for every organization
        "finish_webhook_deliveries", // by the ids of deliveries a worker claimed
        "prune_webhook_deliveries",  // retention is the deployment's, across organizations
        "log_mark",                  // the log's end, no tenant data
        "key_version",               // one counter of every key's changes, no tenant data
        "queues",                    // the operator's metrics: counts across organizations, no tenant data
        "pool",                      // the operator's metrics: this instance's connections
        "reserve_rate",              // a rate-limit budget by a key or organization id the caller holds, no tenant data
    ];
    let core = include_str!("../../core/src/store.rs");
    let trait_body = &core[core.find("pub trait Store").unwrap()..];
    let methods: Vec<&str> = trait_body
        .split("fn ")
        .skip(1)
        .map(|rest| rest.split(['(', '<']).next().unwrap().trim())
        .collect();
    assert!(methods.len() > 20, "{methods:?}");
    let this = include_str!("store.rs");
    let start = this.find("fn no_operation_reaches_another_organization").unwrap();
    let body = &this[start..start + this[start..].find("\n}\n").unwrap()];
    for method in methods {
        assert!(
            NOT_TENANT_SCOPED.contains(&method) || body.contains(&format!(".{method}(")),
            "Store::{method} has no case in no_operation_reaches_another_organization"
        );
    }
}

#[test]
fn api_keys_are_hashed_revocable_and_expire() {
    each_backend(|db| {
        let s = &db.store;
        let w = world(s, "Acme", "106540352242922");
        let made = s
            .create_api_key(
                w.org,
                NewApiKey {
                    name: Some("ci".into()),
                    style: KeyStyle::Wacrm,
                    scopes: key::parse_scopes(Some("conversations:read")).unwrap(),
                    expires_at: None,
                },
            )
            .unwrap();
        assert!(made.secret.starts_with("wacrm_live_"));
        assert_eq!(made.key.last4, &made.secret[made.secret.len() - 4..]);
        let found = s.authenticate(&made.secret).unwrap().unwrap();
        assert_eq!(
            (found.id, found.org_id, found.scopes.clone()),
            (made.key.id, w.org, vec!["conversations:read".to_owned()])
        );
        assert!(s.authenticate("wacrm_live_nope").unwrap().is_none());
        assert!(s.revoke_api_key(made.key.id).unwrap().revoked_at.is_some());
        assert!(s.authenticate(&made.secret).unwrap().is_none());
        assert_eq!(
            s.revoke_api_key(Id::new()).unwrap_err(),
            Error::NotFound(EntityKind::ApiKey)
        );
        let expired = s
            .create_api_key(
                w.org,
                NewApiKey {
                    name: None,
                    style: KeyStyle::Kirim,
                    scopes: key::parse_scopes(None).unwrap(),
                    expires_at: Some(Timestamp::now().plus_days(-1)),
                },
            )
            .unwrap();
        assert!(expired.secret.starts_with("kdv_live_"));
        assert!(s.authenticate(&expired.secret).unwrap().is_none());
    });
}

#[test]
fn seed_is_realistic_and_deterministic() {
    let summary = |db: &common::TestDb| {
        let s = &db.store;
        let org = s.create_organization("Demo").unwrap().id;
        let mut ticks = 0;
        let report = s
            .seed(
                org,
                &SeedOptions {
                    conversations: 300,
                    messages_per_conversation: 6,
                    seed: 42,
                },
                &mut |_| ticks += 1,
            )
            .unwrap();
        assert!(ticks >= 1);
        assert_eq!((report.conversations, report.contacts), (300, 300));
        let all = walk(
            s,
            org,
            &ConversationFilter::default(),
            ConversationOrder::CreatedDesc,
            100,
        );
        assert_eq!(all.len(), 300);
        let statuses: HashSet<_> = all.iter().map(|d| d.conversation.status).collect();
        assert_eq!(statuses.len(), 5, "every status");
        assert!(all.iter().any(|d| d.assignee.is_some()) && all.iter().any(|d| d.assignee.is_none()));
        assert!(all.iter().any(|d| d.conversation.last_message_at.is_none()));
        // Conversations without messages sort by their creation in last-activity order (envelope):
        // the seeded sort keys are the live ones.
        let by_activity = walk(
            s,
            org,
            &ConversationFilter::default(),
            ConversationOrder::LastActivityDesc,
            100,
        );
        assert_eq!(
            by_activity.iter().map(|d| d.conversation.id).collect::<Vec<_>>(),
            expected_order(&by_activity, ConversationOrder::LastActivityDesc)
        );
        assert!(all.iter().any(|d| !d.contact.tags.is_empty()));
        let mut types = HashSet::new();
        let mut directions = HashSet::new();
        for d in all.iter().take(120) {
            for m in s
                .list_messages(org, d.conversation.id, &PageRequest::first(100))
                .unwrap()
                .items
            {
                types.insert(m.content_type);
                directions.insert((m.direction, m.status));
            }
        }
        assert!(types.len() >= 10, "content types: {types:?}");
        assert!(directions.contains(&(Direction::Inbound, MessageStatus::Received)));
        assert!(directions.contains(&(Direction::Outbound, MessageStatus::Read)));
        // A seeded conversation reads as a live one would: replaying its messages through the live
        // path gives the same counters (the unread rule, last message, last inbound).
        let account = s.list_accounts(org, false).unwrap()[0].id;
        for (n, d) in all
            .iter()
            .filter(|d| d.conversation.last_message_at.is_some())
            .take(40)
            .enumerate()
        {
            let c = &d.conversation;
            let mut messages = s.list_messages(org, c.id, &PageRequest::first(100)).unwrap().items;
            messages.reverse();
            let fresh = contact(s, org, &format!("+1650999{n:04}"), "Replay");
            let live = s.open_conversation(org, account, fresh).unwrap().id;
            for m in messages {
                s.append_message(
                    org,
                    NewMessage {
                        conversation_id: live,
                        wamid: None,
                        direction: m.direction,
                        sender_type: m.sender_type,
                        sender_user_id: m.sender_user_id,
                        content_type: m.content_type,
                        body: MessageBody {
                            reply_to_message_id: None,
                            ..m.body
                        },
                        status: m.status,
                        created_at: m.created_at,
                    },
                )
                .unwrap();
            }
            let replayed = s.get_conversation(org, live).unwrap().conversation;
            let reopened =
                c.status == ConversationStatus::Closed && c.last_message_direction == Some(Direction::Inbound);
            assert_eq!(
                (
                    replayed.unread_count,
                    replayed.last_message_at,
                    replayed.last_inbound_at,
                    replayed.last_message_text.clone()
                ),
                (
                    c.unread_count,
                    c.last_message_at,
                    c.last_inbound_at,
                    c.last_message_text.clone()
                ),
                "conversation {} (closed and reopened: {reopened})",
                c.id
            );
        }
        let scripts = all
            .iter()
            .filter_map(|d| d.contact.contact.name.clone())
            .filter(|n| !n.is_ascii())
            .count();
        assert!(scripts > 50, "names in several scripts");
        all.iter()
            .map(|d| {
                (
                    d.contact.contact.phone.clone(),
                    d.contact.contact.name.clone(),
                    d.conversation.status,
                    d.conversation.created_at,
                )
            })
            .collect::<Vec<_>>()
    };
    let a = summary(&common::TestDb::sqlite());
    let b = summary(&common::TestDb::sqlite());
    assert!(a == b, "same seed, same data");
}

/// Every list is an index range scan, at the first page and after a cursor: the plan names the
/// ordering's index and never sorts (no temporary B-tree).
#[test]
fn conversation_lists_are_index_range_scans() {
    let db = common::TestDb::sqlite();
    let s = &db.store;
    let w = world(s, "Acme", "106540352242922");
    conversations(s, &w, 5);
    let cases = [
        (
            ConversationFilter::default(),
            ConversationOrder::CreatedDesc,
            "conversations_org_created",
        ),
        (
            ConversationFilter::default(),
            ConversationOrder::LastMessageDesc,
            "conversations_org_last_message",
        ),
        (
            ConversationFilter::default(),
            ConversationOrder::LastActivityDesc,
            "conversations_org_activity",
        ),
        (
            ConversationFilter {
                account_id: Some(w.account),
                ..Default::default()
            },
            ConversationOrder::LastMessageDesc,
            "conversations_account_last_message",
        ),
        (
            ConversationFilter {
                account_id: Some(w.account),
                statuses: Some(ConversationStatus::matching(Dialect::Kirim, "open")),
                ..Default::default()
            },
            ConversationOrder::LastMessageDesc,
            "conversations_account_last_message",
        ),
        (
            ConversationFilter {
                assignee_id: Some(w.agent),
                ..Default::default()
            },
            ConversationOrder::CreatedDesc,
            "conversations_assignee_created",
        ),
        (
            ConversationFilter {
                assignee_id: Some(w.agent),
                ..Default::default()
            },
            ConversationOrder::LastActivityDesc,
            "conversations_assignee_activity",
        ),
        (
            ConversationFilter {
                statuses: Some(ConversationStatus::matching(Dialect::Wacrm, "open")),
                ..Default::default()
            },
            ConversationOrder::CreatedDesc,
            "conversations_org_created",
        ),
    ];
    for (filter, order, index) in cases {
        for deep in [false, true] {
            let plan = s.explain_conversation_list(w.org, &filter, order, deep).unwrap();
            assert!(plan.contains(index), "{order:?} {filter:?} deep={deep}: {plan}");
            assert!(
                !plan.contains("TEMP B-TREE"),
                "{order:?} {filter:?} deep={deep}: {plan}"
            );
            // After a cursor, the index is sought to the exact (sort, id) position, so a page
            // inside a run of equal sort values does not scan the run.
            if deep {
                assert!(plan.contains(",id)<(?,?)"), "{order:?} {filter:?}: {plan}");
            }
        }
    }
    // A contact has one conversation per account: its few rows are sorted, found by its index.
    let contact_filter = ConversationFilter {
        contact_id: Some(Id::new()),
        ..Default::default()
    };
    let plan = s
        .explain_conversation_list(w.org, &contact_filter, ConversationOrder::CreatedDesc, true)
        .unwrap();
    assert!(plan.contains("conversations_contact"), "{plan}");
}

/// Two instances over one database, eight deliveries at once from a contact neither has seen:
/// one contact, one conversation, every message counted once.
#[test]
fn concurrent_first_messages_across_instances() {
    use rosetta_core::ingest::{InboundMessage, IngestEvent};
    each_backend(|db| {
        let w = world(&db.store, "Acme", "106540352242922");
        let second = std::sync::Arc::new(rosetta_store::DieselStore::open(&db.url).unwrap());
        let first = std::sync::Arc::new(rosetta_store::DieselStore::open(&db.url).unwrap());
        let threads: Vec<_> = (0..8)
            .map(|i| {
                let store = if i % 2 == 0 { first.clone() } else { second.clone() };
                std::thread::spawn(move || {
                    let event = IngestEvent::Message(InboundMessage {
                        phone_number_id: "106540352242922".into(),
                        wa_id: "971501234567".into(),
                        profile_name: Some("Ahmed".into()),
                        wamid: format!("wamid.race.{i}"),
                        timestamp: Timestamp::from_unix_seconds(1_749_416_000 + i),
                        content_type: ContentType::Text,
                        body: MessageBody {
                            text: Some("hi".into()),
                            ..Default::default()
                        },
                        media_sha256: None,
                    });
                    store.ingest(&[event]).unwrap().messages
                })
            })
            .collect();
        let stored: u32 = threads.into_iter().map(|t| t.join().unwrap()).sum();
        assert_eq!(stored, 8);
        let list = db
            .store
            .list_conversations(
                w.org,
                &ConversationFilter::default(),
                ConversationOrder::CreatedDesc,
                &PageRequest::first(10),
            )
            .unwrap();
        assert_eq!(list.items.len(), 1, "{}", db.backend());
        assert_eq!(list.items[0].conversation.unread_count, 8);
        assert_eq!(
            db.store
                .list_contacts(w.org, &ContactFilter::default(), &PageRequest::first(10))
                .unwrap()
                .items
                .len(),
            1
        );
    });
}

/// Meta's profile name is a contact's name by the rule `create_contact` applies: trimmed, blank
/// means none.
#[test]
fn ingest_names_contacts_by_the_contact_rule() {
    use rosetta_core::ingest::{InboundMessage, IngestEvent};
    each_backend(|db| {
        let s = &db.store;
        let w = world(s, "Acme", "106540352242922");
        let event = |wa_id: &str, wamid: &str, name: Option<&str>| {
            IngestEvent::Message(InboundMessage {
                phone_number_id: "106540352242922".into(),
                wa_id: wa_id.into(),
                profile_name: name.map(Into::into),
                wamid: wamid.into(),
                timestamp: Timestamp(1_779_000_000_000),
                content_type: ContentType::Text,
                body: MessageBody {
                    text: Some("hi".into()),
                    ..Default::default()
                },
                media_sha256: None,
            })
        };
        s.ingest(&[
            event("14155550123", "wamid.a", Some("  Jane Doe \n")),
            event("14155550124", "wamid.b", Some("   ")),
        ])
        .unwrap();
        let name = |phone: &str| {
            s.list_contacts(
                w.org,
                &ContactFilter {
                    phone: Some(phone.into()),
                    ..Default::default()
                },
                &PageRequest::first(1),
            )
            .unwrap()
            .items[0]
                .contact
                .name
                .clone()
        };
        assert_eq!(name("+14155550123").as_deref(), Some("Jane Doe"));
        assert_eq!(name("+14155550124"), None);
        // A later delivery renames with the same rule.
        s.ingest(&[event("14155550123", "wamid.c", Some(" Jane D. "))]).unwrap();
        assert_eq!(name("+14155550123").as_deref(), Some("Jane D."));
    });
}

/// A column value Rosetta never writes is an error that is logged, never a made-up value (an
/// unknown status read as open, a short id read as zero).
#[test]
fn corrupt_rows_are_errors_not_defaults() {
    use diesel::{Connection, RunQueryDsl};
    each_backend(|db| {
        let s = &db.store;
        let w = world(s, "Acme", "106540352242922");
        let ct = contact(s, w.org, "+971501234567", "Ahmed Hassan");
        let conv = s.open_conversation(w.org, w.account, ct).unwrap();
        let mut raw = rosetta_store::DbConnection::establish(&db.url).unwrap();
        diesel::sql_query("UPDATE conversations SET status = 'bogus'")
            .execute(&mut raw)
            .unwrap();
        assert!(matches!(s.get_conversation(w.org, conv.id), Err(Error::Internal(_))));
        assert!(matches!(
            s.list_conversations(
                w.org,
                &ConversationFilter::default(),
                ConversationOrder::CreatedDesc,
                &PageRequest::first(10)
            ),
            Err(Error::Internal(_))
        ));
        diesel::sql_query("UPDATE conversations SET status = 'open'")
            .execute(&mut raw)
            .unwrap();
        s.append_message(w.org, inbound(conv.id, "wamid.1", "Hi", 1_779_000_000_000))
            .unwrap();
        diesel::sql_query("UPDATE messages SET direction = 'sideways'")
            .execute(&mut raw)
            .unwrap();
        assert!(matches!(
            s.list_messages(w.org, conv.id, &PageRequest::first(10)),
            Err(Error::Internal(_))
        ));
    });
}

/// Access tokens are sealed at rest: the column holds no token, another key cannot open it (an
/// error that says so, never a wrong token), and without a key a token is refused.
#[test]
fn access_tokens_are_sealed_at_rest() {
    use diesel::{Connection, QueryDsl, RunQueryDsl};
    use rosetta_store::schema::whatsapp_accounts;
    use rosetta_store::secrets::SecretKey;
    use rosetta_store::{DieselStore, StoreOptions};
    each_backend(|db| {
        let keyed = |key: SecretKey| {
            DieselStore::open_with(
                &db.url,
                StoreOptions {
                    secret_key: Some(key),
                    ..Default::default()
                },
            )
            .unwrap()
        };
        let s = keyed(SecretKey::generate());
        let w = world(&s, "Acme", "106540352242922");
        assert_eq!(s.account_token(w.org, w.account).unwrap(), None);
        let token = AccessToken::new("EAAGm0PX4ZCpsBA-secret-token").unwrap();
        s.set_account_token(w.org, w.account, &token).unwrap();
        assert_eq!(s.account_token(w.org, w.account).unwrap(), Some(token.clone()));
        let replaced = AccessToken::new("EAAG-second-token").unwrap();
        s.set_account_token(w.org, w.account, &replaced).unwrap();
        assert_eq!(s.account_token(w.org, w.account).unwrap(), Some(replaced));

        let mut raw = rosetta_store::DbConnection::establish(&db.url).unwrap();
        let stored: Vec<Option<Vec<u8>>> = whatsapp_accounts::table
            .select(whatsapp_accounts::access_token)
            .load(&mut raw)
            .unwrap();
        let sealed = stored.into_iter().flatten().next().expect("a sealed token");
        assert!(
            !sealed.windows(10).any(|w| w == b"EAAG-secon"),
            "the token is not in clear"
        );

        let other = keyed(SecretKey::generate());
        match other.account_token(w.org, w.account) {
            Err(Error::Internal(m)) => assert!(m.contains("secret key") && !m.contains("EAAG"), "{m}"),
            other => panic!("another key must not open the token: {other:?}"),
        }
        if db.backend() == "postgres" && std::env::var(rosetta_store::secrets::SECRET_KEY_ENV).is_err() {
            let keyless = DieselStore::open(&db.url).unwrap();
            assert!(matches!(
                keyless.set_account_token(w.org, w.account, &token),
                Err(Error::Invalid {
                    field: "secret_key",
                    ..
                })
            ));
        }
    });
}

fn outbound_send(conversation: Id, text: &str, at: i64, deadline: i64) -> NewSend {
    rosetta_store::testing::text_send(conversation, "971501234567", text, Timestamp(at), Timestamp(deadline))
}

/// A send is its message and its job, written together; a job is claimed once, and each outcome
/// lands on the job and the message.
#[test]
fn the_outbox_queues_claims_and_records_outcomes() {
    each_backend(|db| {
        let s = &db.store;
        let w = world(s, "Acme", "106540352242922");
        let ct = contact(s, w.org, "+971501234567", "Ahmed Hassan");
        let conv = s.open_conversation(w.org, w.account, ct).unwrap().id;
        // No inbound message yet: the window is closed to free-form messages, open to templates.
        assert_eq!(
            s.enqueue_send(w.org, outbound_send(conv, "Hi", 1_779_000_000_000, i64::MAX))
                .unwrap_err(),
            Error::WindowClosed
        );
        let mut template = outbound_send(conv, "order_shipped", 1_779_000_000_000, i64::MAX);
        template.message.content_type = ContentType::Template;
        let template = s.enqueue_send(w.org, template).unwrap();
        s.claim_dispatch(Timestamp::now(), 30_000, 600_000, 10).unwrap();
        s.finish_dispatch(
            template.id,
            DispatchOutcome::Sent {
                wamid: "wamid.template".into(),
            },
        )
        .unwrap();
        // The customer answers: free-form messages may follow for 24 hours.
        let recent = Timestamp::now().millis() - 60_000;
        s.append_message(w.org, inbound(conv, "wamid.in", "Hello?", recent))
            .unwrap();
        let far = Timestamp::now().millis() + 3_600_000;
        let queued = s
            .enqueue_send(w.org, outbound_send(conv, "On its way!", recent + 1_000, far))
            .unwrap();
        let now = Timestamp::now();
        assert_eq!((queued.status, queued.wamid.clone()), (MessageStatus::Sending, None));
        let c = s.get_conversation(w.org, conv).unwrap().conversation;
        assert_eq!(
            (c.last_message_text.as_deref(), c.unread_count),
            (Some("On its way!"), 0),
            "the conversation follows at once, by the unread rule"
        );

        let jobs = s.claim_dispatch(now, 30_000, 600_000, 10).unwrap();
        assert_eq!(jobs.len(), 1);
        let job = &jobs[0];
        assert_eq!(
            (job.message_id, job.org_id, job.account_id, job.attempts),
            (queued.id, w.org, w.account, 1)
        );
        assert_eq!(job.payload["biz_opaque_callback_data"], queued.id.to_string());
        assert!(
            s.claim_dispatch(now, 30_000, 600_000, 10).unwrap().is_empty(),
            "claimed once"
        );

        // Retry: due again only at its time.
        let later = Timestamp(now.millis() + 60_000);
        s.finish_dispatch(
            job.message_id,
            DispatchOutcome::Retry {
                at: later,
                error: "HTTP 503".into(),
            },
        )
        .unwrap();
        assert!(s.claim_dispatch(now, 30_000, 600_000, 10).unwrap().is_empty());
        let again = s.claim_dispatch(later, 30_000, 600_000, 10).unwrap();
        assert_eq!(again[0].attempts, 2);
        s.finish_dispatch(
            queued.id,
            DispatchOutcome::Sent {
                wamid: "wamid.out".into(),
            },
        )
        .unwrap();
        let page = s.list_messages(w.org, conv, &PageRequest::first(10)).unwrap();
        let sent = page.items.iter().find(|m| m.id == queued.id).unwrap();
        assert_eq!(
            (sent.status, sent.wamid.as_deref()),
            (MessageStatus::Sent, Some("wamid.out"))
        );
        assert!(
            s.claim_dispatch(Timestamp(far), 30_000, 600_000, 10)
                .unwrap()
                .is_empty(),
            "done"
        );

        // A permanent failure keeps Meta's code; a retry past the deadline fails, saying why.
        let refused = s
            .enqueue_send(w.org, outbound_send(conv, "x", 1_779_000_120_000, far))
            .unwrap();
        let short = s
            .enqueue_send(w.org, outbound_send(conv, "y", recent + 3_000, now.millis() + 1_000))
            .unwrap();
        let jobs = s.claim_dispatch(Timestamp::now(), 30_000, 600_000, 10).unwrap();
        assert_eq!(jobs.len(), 2);
        s.finish_dispatch(
            refused.id,
            DispatchOutcome::Failed {
                code: Some(131047),
                title: "Re-engagement message".into(),
            },
        )
        .unwrap();
        s.finish_dispatch(
            short.id,
            DispatchOutcome::Retry {
                at: Timestamp(now.millis() + 60_000),
                error: "HTTP 503".into(),
            },
        )
        .unwrap();
        let page = s.list_messages(w.org, conv, &PageRequest::first(10)).unwrap();
        let by_id = |id: Id| page.items.iter().find(|m| m.id == id).unwrap().clone();
        let failed = by_id(refused.id);
        assert_eq!(
            (failed.status, failed.error_code, failed.error_title.as_deref()),
            (MessageStatus::Failed, Some(131047), Some("Re-engagement message"))
        );
        let gave_up = by_id(short.id);
        assert_eq!(gave_up.status, MessageStatus::Failed);
        assert_eq!(
            gave_up.error_title.as_deref(),
            Some("gave up after 1 attempts: HTTP 503")
        );
        assert!(s
            .claim_dispatch(Timestamp(far), 30_000, 600_000, 10)
            .unwrap()
            .is_empty());
    });
}

/// Two instances over one database claiming a burst at once: every job is claimed exactly once.
#[test]
fn concurrent_claimers_take_each_job_once() {
    each_backend(|db| {
        let s = &db.store;
        let w = world(s, "Acme", "106540352242922");
        let ct = contact(s, w.org, "+971501234567", "Ahmed Hassan");
        let conv = s.open_conversation(w.org, w.account, ct).unwrap().id;
        s.append_message(
            w.org,
            inbound(conv, "wamid.in", "Hi", Timestamp::now().millis() - 1_000),
        )
        .unwrap();
        let far = Timestamp::now().millis() + 3_600_000;
        let mut queued = HashSet::new();
        for i in 0..60 {
            queued.insert(
                s.enqueue_send(w.org, outbound_send(conv, &format!("m{i}"), 1_779_000_000_000 + i, far))
                    .unwrap()
                    .id,
            );
        }
        let claimers: Vec<_> = (0..2)
            .map(|_| {
                let url = db.url.clone();
                std::thread::spawn(move || {
                    let instance = rosetta_store::DieselStore::open(&url).unwrap();
                    let mut mine = Vec::new();
                    loop {
                        let jobs = instance.claim_dispatch(Timestamp::now(), 60_000, 600_000, 7).unwrap();
                        if jobs.is_empty() {
                            return mine;
                        }
                        mine.extend(jobs.into_iter().map(|j| j.message_id));
                    }
                })
            })
            .collect();
        let mut all = Vec::new();
        for claimer in claimers {
            all.extend(claimer.join().unwrap());
        }
        let unique: HashSet<Id> = all.iter().copied().collect();
        assert_eq!(all.len(), unique.len(), "no job claimed twice");
        assert_eq!(unique, queued, "every job claimed");
    });
}

/// `Store::send`: the contact and conversation found or made with the message and its job, the
/// reply resolved, the token required, the key bound to the message in the same transaction (a
/// retry sends nothing), and every refusal writes nothing.
#[test]
fn sends_find_or_make_the_conversation_and_bind_their_key() {
    each_backend(|db| {
        let s = &db.store;
        let w = world(s, "Acme", "106540352242922");
        let far = Timestamp(Timestamp::now().millis() + 3_600_000);
        let template = Content::Template {
            name: "order_update".into(),
            language: "en_US".into(),
            components: None,
        };
        let request = |recipient: Recipient, content: Content, key: Option<(&str, &str)>| SendRequest {
            recipient,
            content,
            reply_to: None,
            sender_type: SenderType::Agent,
            sender_user_id: None,
            idempotency: key.map(|(k, f)| RequestKey {
                key: k.into(),
                fingerprint: f.into(),
            }),
            deadline_at: far,
        };
        let to_new = |name: &str| Recipient::Phone {
            account: w.account,
            phone: "+1 415 555 0199".into(),
            name: Some(name.into()),
        };
        // No token yet: not configured, and nothing written (no contact either).
        assert_eq!(
            s.send(w.org, request(to_new("Zoe"), template.clone(), None))
                .unwrap_err(),
            Error::NotConfigured
        );
        assert!(s
            .list_contacts(w.org, &ContactFilter::default(), &PageRequest::first(10))
            .unwrap()
            .items
            .is_empty());
        s.set_account_token(w.org, w.account, &AccessToken::new("EAAG-send").unwrap())
            .unwrap();

        let SendResult::Queued(first) = s
            .send(w.org, request(to_new("Zoe"), template.clone(), Some(("k1", "fp1"))))
            .unwrap()
        else {
            panic!("queued")
        };
        assert!(first.contact_created);
        assert_eq!(
            (
                first.message.status,
                first.message.content_type,
                first.message.body.template_name.as_deref()
            ),
            (MessageStatus::Sending, ContentType::Template, Some("order_update"))
        );
        let made = s.get_contact(w.org, first.contact_id).unwrap().contact;
        assert_eq!(
            (made.phone.as_str(), made.name.as_deref()),
            ("+14155550199", Some("Zoe"))
        );
        let jobs = s.claim_dispatch(Timestamp::now(), 30_000, 600_000, 10).unwrap();
        assert_eq!(jobs.len(), 1);
        assert_eq!(
            jobs[0].payload,
            serde_json::json!({"messaging_product": "whatsapp", "recipient_type": "individual",
                "to": "14155550199", "type": "template",
                "template": {"name": "order_update", "language": {"code": "en_US"}},
                "biz_opaque_callback_data": first.message.id.to_string()})
        );

        // The same key again: the first message, nothing queued; another request with it: reused.
        match s
            .send(w.org, request(to_new("Zoe"), template.clone(), Some(("k1", "fp1"))))
            .unwrap()
        {
            SendResult::Earlier { sent, .. } => assert_eq!(
                (sent.message.id, sent.contact_id, sent.contact_created),
                (first.message.id, first.contact_id, false)
            ),
            other => panic!("expected the earlier send, got {other:?}"),
        }
        assert_eq!(
            s.send(w.org, request(to_new("Zoe"), template.clone(), Some(("k1", "fp2"))))
                .unwrap(),
            SendResult::KeyReused
        );
        let stored = StoredResponse {
            status: 201,
            body: "{\"data\":{}}".into(),
        };
        s.complete_idempotency_key(w.org, "k1", &stored).unwrap();
        assert_eq!(
            s.send(w.org, request(to_new("Zoe"), template.clone(), Some(("k1", "fp1"))))
                .unwrap(),
            SendResult::Replay(stored)
        );

        // By conversation, replying to a message of it: the reply carries that message's wamid.
        let conv = first.conversation_id;
        let asked = s
            .append_message(
                w.org,
                inbound(conv, "wamid.ask", "Where is it?", Timestamp::now().millis() - 1_000),
            )
            .unwrap();
        let text = Content::Text {
            body: "Tomorrow".into(),
            preview_url: false,
        };
        let mut reply = request(Recipient::Conversation(conv), text.clone(), None);
        reply.reply_to = Some(ReplyTo::Message(asked.id));
        let SendResult::Queued(answer) = s.send(w.org, reply).unwrap() else {
            panic!("queued")
        };
        assert_eq!(
            (
                answer.message.body.reply_to_message_id,
                answer.message.body.context_wamid.as_deref()
            ),
            (Some(asked.id), Some("wamid.ask"))
        );
        assert_eq!(s.get_conversation(w.org, conv).unwrap().conversation.unread_count, 0);
        // A reply to a message of another conversation is refused; so is bad content.
        let other = contact(s, w.org, "+14155550111", "Other");
        let other_conv = s.open_conversation(w.org, w.account, other).unwrap().id;
        let mut wrong = request(Recipient::Conversation(other_conv), template.clone(), None);
        wrong.reply_to = Some(ReplyTo::Message(asked.id));
        assert!(matches!(
            s.send(w.org, wrong).unwrap_err(),
            Error::Invalid {
                field: "reply_to_message_id",
                ..
            }
        ));
        let empty = Content::Text {
            body: " ".into(),
            preview_url: false,
        };
        assert!(matches!(
            s.send(w.org, request(Recipient::Conversation(conv), empty, None))
                .unwrap_err(),
            Error::Invalid { field: "text", .. }
        ));
        // Outside the window (the other contact never wrote): a text is refused, nothing written.
        let before = s
            .list_messages(w.org, other_conv, &PageRequest::first(10))
            .unwrap()
            .items
            .len();
        assert_eq!(
            s.send(
                w.org,
                request(Recipient::Conversation(other_conv), text, Some(("k2", "fp")))
            )
            .unwrap_err(),
            Error::WindowClosed
        );
        assert_eq!(
            s.list_messages(w.org, other_conv, &PageRequest::first(10))
                .unwrap()
                .items
                .len(),
            before
        );
        // The key of a refused send is free.
        assert!(matches!(
            s.send(
                w.org,
                request(Recipient::Conversation(other_conv), template, Some(("k2", "fp")))
            )
            .unwrap(),
            SendResult::Queued(_)
        ));
        // Another organization's conversation is not found.
        let stranger = world(s, "Other", "106540352242923");
        assert_eq!(
            s.send(
                stranger.org,
                request(
                    Recipient::Conversation(conv),
                    Content::Text {
                        body: "x".into(),
                        preview_url: false
                    },
                    None
                )
            )
            .unwrap_err(),
            Error::NotFound(EntityKind::Conversation)
        );
        assert_eq!(
            s.get_message(stranger.org, first.message.id).unwrap_err(),
            Error::NotFound(EntityKind::Message)
        );
        assert_eq!(s.get_message(w.org, first.message.id).unwrap().id, first.message.id);
    });
}

/// A received file is queued for fetching with its message (pending), once; a claim is one
/// worker's until its lease runs out (then due again: a fetch is safe to repeat); outcomes land on
/// the message.
#[test]
fn received_media_is_queued_with_its_message_and_fetched_once() {
    use rosetta_core::media::MediaOutcome;
    each_backend(|db| {
        let s = &db.store;
        let w = world(s, "Acme", "106540352242922");
        let image = |wamid: &str| {
            let mut body = MessageBody {
                media_id: Some(format!("MEDIA-{wamid}")),
                mime_type: Some("image/jpeg".into()),
                ..Default::default()
            };
            body.text = Some("look".into());
            IngestEvent::Message(InboundMessage {
                phone_number_id: "106540352242922".into(),
                wa_id: "16505551234".into(),
                profile_name: None,
                wamid: wamid.into(),
                timestamp: Timestamp::now(),
                content_type: ContentType::Image,
                body,
                media_sha256: Some("c2hhMjU2".into()),
            })
        };
        s.ingest(&[image("wamid.img1"), image("wamid.img2")]).unwrap();
        s.ingest(&[image("wamid.img1")]).unwrap(); // redelivered: nothing new
                                                   // The operator's view of the queues (metrics): two files waiting, nothing else.
        let queues = s.queues().unwrap();
        assert_eq!(queues.media_fetches.depth, 2);
        assert!(queues.media_fetches.oldest.is_some_and(|t| t <= Timestamp::now()));
        assert_eq!(queues.sends, Backlog::default());
        assert_eq!(queues.event_deliveries, Backlog::default());
        assert_eq!(queues.disabled_subscriptions, 0);
        assert!(s.pool().is_some_and(|p| p.size >= 1), "{:?}", s.pool());
        let m1 = s.message_by_wamid(w.org, "wamid.img1").unwrap();
        assert_eq!(m1.media, Some(MediaState::Pending));
        let now = Timestamp::now();
        let jobs = s.claim_media(now, 30_000, 10).unwrap();
        assert_eq!(jobs.len(), 2, "one job per message, none for the redelivery");
        let job = jobs.iter().find(|j| j.message_id == m1.id).unwrap();
        assert_eq!(
            (
                job.media_id.as_str(),
                job.declared_sha256.as_deref(),
                job.content_type,
                job.attempts
            ),
            ("MEDIA-wamid.img1", Some("c2hhMjU2"), ContentType::Image, 1)
        );
        assert!(s.claim_media(now, 30_000, 10).unwrap().is_empty(), "claimed once");
        // A worker died: after the lease, the job is due again.
        let after = Timestamp(now.millis() + 31_000);
        assert_eq!(s.claim_media(after, 30_000, 10).unwrap().len(), 2);
        s.finish_media(
            m1.id,
            MediaOutcome::Stored {
                blob: "ab".repeat(32),
                size: 1234,
                mime_type: Some("image/jpeg".into()),
            },
        )
        .unwrap();
        assert_eq!(
            s.message_by_wamid(w.org, "wamid.img1").unwrap().media,
            Some(MediaState::Stored)
        );
        let m2 = s.message_by_wamid(w.org, "wamid.img2").unwrap();
        s.finish_media(
            m2.id,
            MediaOutcome::Retry {
                at: Timestamp(after.millis() + 5_000),
                error: "HTTP 503".into(),
            },
        )
        .unwrap();
        assert!(s.claim_media(after, 30_000, 10).unwrap().is_empty());
        let again = s.claim_media(Timestamp(after.millis() + 5_000), 30_000, 10).unwrap();
        assert_eq!((again.len(), again[0].attempts), (1, 3));
        s.finish_media(
            m2.id,
            MediaOutcome::Failed {
                error: "checksum mismatch".into(),
            },
        )
        .unwrap();
        assert_eq!(
            s.message_by_wamid(w.org, "wamid.img2").unwrap().media,
            Some(MediaState::Failed)
        );
        assert!(s
            .claim_media(Timestamp(after.millis() + 600_000), 30_000, 10)
            .unwrap()
            .is_empty());
    });
}
