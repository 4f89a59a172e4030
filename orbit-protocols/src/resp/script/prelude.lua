-- The scripting environment, run once when the Lua state is created, with
-- the real globals, the run-time `redis` table, the load-time one (FUNCTION
-- LOAD) and the Rust functions the tables are built on. It returns the
-- read-only environment scripts and functions run in, the runner, and the
-- switch between the two `redis` tables.
local real, api, load_api, as_table = ...
local error, pcall, rawget, rawset, setmetatable, type, tostring, tonumber, select, unpack, setfenv =
    error, pcall, rawget, rawset, setmetatable, type, tostring, tonumber, select, unpack, setfenv
local loadstring, load = loadstring, load

local function readonly(t)
    return setmetatable({}, {
        __index = t,
        __newindex = function() error("Attempt to modify a readonly table", 2) end,
        __metatable = false,
    })
end

-- Reading a missing name of the load-time `redis` is an error, as in
-- Redis (FUNCTION LOAD cannot call commands).
local function strict(t)
    return setmetatable({}, {
        __index = function(_, k)
            local v = t[k]
            if v == nil then
                error("Script attempted to access nonexistent global variable '" .. tostring(k) .. "'", 2)
            end
            return v
        end,
        __newindex = function() error("Attempt to modify a readonly table", 2) end,
        __metatable = false,
    })
end

local api_ro, load_ro = readonly(api), strict(load_api)
local current = api_ro

local env = setmetatable({}, {
    __index = function(_, k)
        if k == "redis" then return current end
        local v = rawget(real, k)
        if v == nil then
            error("Script attempted to access nonexistent global variable '" .. tostring(k) .. "'", 2)
        end
        return v
    end,
    __newindex = function() error("Attempt to modify a readonly table", 2) end,
    __metatable = false,
})
rawset(real, "_G", env)
for _, name in ipairs({ "string", "table", "math", "coroutine", "cjson", "cmsgpack", "bit", "struct" }) do
    if rawget(real, name) ~= nil then rawset(real, name, readonly(rawget(real, name))) end
end
local string_meta = getmetatable("")
string_meta.__index = rawget(real, "string")
string_meta.__metatable = false
-- Code compiled at run time runs in the same read-only environment.
rawset(real, "loadstring", function(code, name)
    local f, e = loadstring(code, name)
    if f then setfenv(f, env) end
    return f, e
end)
rawset(real, "load", function(reader, name)
    local f, e = load(reader, name)
    if f then setfenv(f, env) end
    return f, e
end)
for _, name in ipairs({ "print", "getfenv", "setfenv", "newproxy", "dofile", "loadfile", "module", "require", "package" }) do
    rawset(real, name, nil)
end

-- An error reply raised by redis.call reaches the script's own pcall and
-- xpcall as the table Redis raises, `{err = ...}`.
local raw_pcall, raw_xpcall = pcall, xpcall
local function caught(ok, ...)
    if not ok then
        local t = as_table((...))
        if t ~= nil then return false, t end
    end
    return ok, ...
end
rawset(real, "pcall", function(f, ...) return caught(raw_pcall(f, ...)) end)
-- An error table raised by the script records the line it was raised at
-- (error() at level 3 names the script's line), as Redis reports it.
local raw_error = error
rawset(real, "error", function(e, level)
    if type(e) == "table" and rawget(e, "err") ~= nil and rawget(e, "line") == nil then
        local _, where = raw_pcall(raw_error, "", 3)
        rawset(e, "line", tonumber(tostring(where):match(":(%d+): $")))
    end
    -- Levels count from the script, one frame above this function.
    level = level or 1
    raw_error(e, level > 0 and level + 1 or 0)
end)
rawset(real, "xpcall", function(f, handler)
    return raw_xpcall(f, function(e)
        local t = as_table(e)
        if t ~= nil then return handler(t) end
        return handler(e)
    end)
end)

-- An error reply's table: "-CODE message" keeps its code, anything else
-- gets ERR, as Redis builds them.
local function error_table(msg)
    if msg:sub(1, 1) ~= "-" then msg = "-" .. msg end
    local space = msg:find(" ", 1, true)
    if space then return { err = msg:sub(2, space - 1) .. " " .. msg:sub(space + 1) } end
    return { err = "ERR " .. msg:sub(2) }
end

api.error_reply = function(msg)
    if type(msg) ~= "string" then error("wrong number or type of arguments", 2) end
    return error_table(msg)
end
api.status_reply = function(msg)
    if type(msg) ~= "string" then error("wrong number or type of arguments", 2) end
    return { ok = msg }
end

-- register_function: collected here, read by the loader after the
-- library's code ran. Its errors carry no position, and a bad function
-- name is worded as Redis 7.0 words it (as a library name).
local registered = {}
local known_flags = {
    ["no-writes"] = true, ["allow-oom"] = true, ["allow-stale"] = true,
    ["no-cluster"] = true, ["allow-cross-slot-keys"] = true,
}
load_api.register_function = function(...)
    local n = select("#", ...)
    local name, callback, flags, description
    if n == 1 then
        local args = ...
        if type(args) ~= "table" then
            error("calling redis.register_function with a single argument is only applicable to Lua table (representing named arguments).", 0)
        end
        for k, v in pairs(args) do
            if k == "function_name" then name = v
            elseif k == "callback" then callback = v
            elseif k == "flags" then flags = v
            elseif k == "description" then description = v
            else error("unknown argument given to redis.register_function", 0) end
        end
    elseif n == 2 then
        name, callback = ...
    else
        error("wrong number of arguments to redis.register_function", 0)
    end
    if type(name) ~= "string" then error("function_name argument given to redis.register_function must be a string", 0) end
    if type(callback) ~= "function" then error("callback argument given to redis.register_function must be a function", 0) end
    if description ~= nil and type(description) ~= "string" then
        error("description argument given to redis.register_function must be a string", 0)
    end
    if #name == 0 or name:find("[^%w_]") then
        error("Library names can only contain letters, numbers, or underscores(_) and must be at least one character long", 0)
    end
    local list = {}
    if flags ~= nil then
        if type(flags) ~= "table" then error("flags argument to redis.register_function must be a table representing function flags", 0) end
        for _, f in ipairs(flags) do
            if type(f) ~= "string" or not known_flags[f] then error("unknown flag given", 0) end
            list[#list + 1] = f
        end
    end
    for _, f in ipairs(registered) do
        if f.name == name then error("Function already exists in the library", 0) end
    end
    registered[#registered + 1] = { name = name, callback = callback, flags = list, description = description }
end

local function use(which)
    current = which == "load" and load_ro or api_ro
    if which == "load" then registered = {} end
    return registered
end

-- Runs f with its arguments: ok, and the result or the error object.
local function run(f, ...)
    return raw_pcall(f, ...)
end

return env, run, use
