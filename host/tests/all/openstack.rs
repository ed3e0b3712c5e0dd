//! OpenStack: oslo.policy's http check and the raw decision API over HTTP(S).
