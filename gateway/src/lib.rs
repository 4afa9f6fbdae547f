//! The vecgate gateway: front transports, sessions, the request pipeline, admin and CLI.
