namespace ftz::engine::compliance {}
