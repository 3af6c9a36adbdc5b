//! The schema, kept by hand: one set of column types that SQLite and PostgreSQL share
//! (ids `Binary`, times `BigInt`). It mirrors `migrations/{sqlite,postgres}`.

diesel::table! {
    settings (name) {
        name -> Text,
        value -> Binary,
    }
}

diesel::table! {
    organizations (id) {
        id -> Binary,
        name -> Text,
        created_at -> BigInt,
    }
}

diesel::table! {
    whatsapp_accounts (id) {
        id -> Binary,
        org_id -> Binary,
        phone_number_id -> Text,
        phone_number -> Text,
        name -> Nullable<Text>,
        connected -> Bool,
        created_at -> BigInt,
        access_token -> Nullable<Binary>,
        token_set_at -> Nullable<BigInt>,
        token_invalid_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    users (id) {
        id -> Binary,
        org_id -> Binary,
        name -> Text,
        email -> Text,
        created_at -> BigInt,
    }
}

diesel::table! {
    contacts (id) {
        id -> Binary,
        org_id -> Binary,
        phone -> Text,
        name -> Nullable<Text>,
        email -> Nullable<Text>,
        company -> Nullable<Text>,
        avatar_url -> Nullable<Text>,
        metadata -> Nullable<Text>,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    tags (id) {
        id -> Binary,
        org_id -> Binary,
        name -> Text,
        color -> Text,
        created_at -> BigInt,
    }
}

diesel::table! {
    contact_tags (contact_id, tag_id) {
        contact_id -> Binary,
        tag_id -> Binary,
    }
}

diesel::table! {
    conversations (id) {
        id -> Binary,
        org_id -> Binary,
        account_id -> Binary,
        contact_id -> Binary,
        status -> Text,
        assignee_id -> Nullable<Binary>,
        unread_count -> BigInt,
        last_message_text -> Nullable<Text>,
        last_message_direction -> Nullable<Text>,
        last_message_at -> Nullable<BigInt>,
        last_message_key -> BigInt,
        last_activity_at -> BigInt,
        last_inbound_at -> Nullable<BigInt>,
        source -> Nullable<Text>,
        first_message_at -> Nullable<BigInt>,
        resolution -> Nullable<Text>,
        closed_at -> Nullable<BigInt>,
        closed_by -> Nullable<Binary>,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    messages (id) {
        id -> Binary,
        org_id -> Binary,
        conversation_id -> Binary,
        wamid -> Nullable<Text>,
        direction -> Text,
        sender_type -> Text,
        sender_user_id -> Nullable<Binary>,
        content_type -> Text,
        text -> Nullable<Text>,
        media_id -> Nullable<Text>,
        media_url -> Nullable<Text>,
        mime_type -> Nullable<Text>,
        filename -> Nullable<Text>,
        latitude -> Nullable<Double>,
        longitude -> Nullable<Double>,
        location_name -> Nullable<Text>,
        location_address -> Nullable<Text>,
        template_name -> Nullable<Text>,
        interactive_reply_id -> Nullable<Text>,
        interactive_reply_title -> Nullable<Text>,
        button_payload -> Nullable<Text>,
        reaction_emoji -> Nullable<Text>,
        reaction_to_wamid -> Nullable<Text>,
        reply_to_message_id -> Nullable<Binary>,
        context_wamid -> Nullable<Text>,
        raw_type -> Nullable<Text>,
        status -> Text,
        error_code -> Nullable<BigInt>,
        error_title -> Nullable<Text>,
        created_at -> BigInt,
        updated_at -> BigInt,
        media_state -> Nullable<Text>,
    }
}

diesel::table! {
    api_keys (id) {
        id -> Binary,
        org_id -> Binary,
        name -> Nullable<Text>,
        style -> Text,
        scopes -> Text,
        secret_hash -> Binary,
        last4 -> Text,
        created_at -> BigInt,
        expires_at -> Nullable<BigInt>,
        revoked_at -> Nullable<BigInt>,
        last_used_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    idempotency_keys (org_id, key) {
        org_id -> Binary,
        key -> Text,
        fingerprint -> Text,
        response_status -> Nullable<Integer>,
        response_body -> Nullable<Text>,
        created_at -> BigInt,
        message_id -> Nullable<Binary>,
    }
}

diesel::table! {
    conversation_buckets (org_id, family, bucket) {
        org_id -> Binary,
        family -> Text,
        bucket -> BigInt,
        n -> BigInt,
    }
}

diesel::table! {
    dispatch_jobs (message_id) {
        message_id -> Binary,
        org_id -> Binary,
        account_id -> Binary,
        recipient -> Text,
        payload -> Text,
        state -> Text,
        attempts -> Integer,
        due_at -> BigInt,
        deadline_at -> BigInt,
        last_error -> Nullable<Text>,
        created_at -> BigInt,
        updated_at -> BigInt,
        upload_id -> Nullable<Binary>,
    }
}

diesel::table! {
    events (seq) {
        seq -> BigInt,
        id -> Binary,
        org_id -> Binary,
        kind -> Text,
        account_id -> Nullable<Binary>,
        conversation_id -> Nullable<Binary>,
        message_id -> Nullable<Binary>,
        contact_id -> Nullable<Binary>,
        data -> Text,
        created_at -> BigInt,
        pos -> Nullable<BigInt>,
    }
}

diesel::table! {
    webhook_subscriptions (id) {
        id -> Binary,
        org_id -> Binary,
        dialect -> Text,
        url -> Text,
        events -> Text,
        description -> Nullable<Text>,
        secret_info -> Text,
        secrets -> Binary,
        is_active -> Bool,
        failure_count -> Integer,
        last_delivery_at -> Nullable<BigInt>,
        cursor -> BigInt,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    webhook_deliveries (id) {
        id -> Binary,
        org_id -> Binary,
        subscription_id -> Binary,
        event_id -> Binary,
        event_pos -> BigInt,
        event_name -> Text,
        dedupe_key -> Text,
        source -> Text,
        body -> Text,
        state -> Text,
        attempts -> Integer,
        due_at -> BigInt,
        last_status -> Nullable<Integer>,
        last_error -> Nullable<Text>,
        created_at -> BigInt,
        updated_at -> BigInt,
        delivered_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    webhook_attempts (delivery_id, attempt) {
        delivery_id -> Binary,
        attempt -> Integer,
        started_at -> BigInt,
        duration_ms -> BigInt,
        status_code -> Nullable<Integer>,
        error -> Nullable<Text>,
        excerpt -> Nullable<Text>,
    }
}

diesel::table! {
    key_changes (id) {
        id -> Integer,
        version -> BigInt,
    }
}

diesel::table! {
    rate_windows (bucket, key_id, minute) {
        bucket -> Text,
        key_id -> Binary,
        minute -> BigInt,
        asked -> BigInt,
    }
}

diesel::table! {
    org_versions (org_id) {
        org_id -> Binary,
        inbox -> BigInt,
        hooks -> BigInt,
    }
}

diesel::table! {
    uploads (id) {
        id -> Binary,
        org_id -> Binary,
        account_id -> Nullable<Binary>,
        blob -> Text,
        size -> BigInt,
        mime_type -> Text,
        filename -> Nullable<Text>,
        meta_account_id -> Nullable<Binary>,
        meta_media_id -> Nullable<Text>,
        meta_uploaded_at -> Nullable<BigInt>,
        created_at -> BigInt,
    }
}

diesel::table! {
    media_files (message_id) {
        message_id -> Binary,
        org_id -> Binary,
        account_id -> Binary,
        media_id -> Text,
        declared_sha256 -> Nullable<Text>,
        mime_type -> Nullable<Text>,
        blob -> Nullable<Text>,
        size -> Nullable<BigInt>,
        error -> Nullable<Text>,
        job -> Text,
        attempts -> Integer,
        due_at -> BigInt,
        last_error -> Nullable<Text>,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::joinable!(contact_tags -> tags (tag_id));
diesel::joinable!(contact_tags -> contacts (contact_id));
diesel::joinable!(webhook_deliveries -> webhook_subscriptions (subscription_id));

diesel::allow_tables_to_appear_in_same_query!(
    dispatch_jobs,
    media_files,
    uploads,
    events,
    webhook_subscriptions,
    webhook_deliveries,
    webhook_attempts,
    org_versions,
    key_changes,
    settings,
    organizations,
    whatsapp_accounts,
    users,
    contacts,
    tags,
    contact_tags,
    conversations,
    messages,
    api_keys,
    idempotency_keys,
    conversation_buckets,
);
