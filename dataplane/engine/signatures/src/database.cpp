// SignatureDatabase: compile, serialize, deserialize (work in progress).
namespace ftz::engine::sig {}
