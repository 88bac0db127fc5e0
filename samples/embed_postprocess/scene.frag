#version 450
layout(location = 0) in vec3 color;
layout(location = 1) flat in int background;
layout(location = 0) out vec4 out_color;
layout(push_constant) uniform Viewport { vec2 size; } viewport;

void main() {
    if (background == 0) {
        out_color = vec4(color, 1.0);
        return;
    }
    const vec2 uv = gl_FragCoord.xy / viewport.size;  // y grows downwards
    vec3 c = mix(vec3(0.35, 0.55, 0.9), vec3(0.85, 0.9, 1.0), uv.y / 0.6);  // sky
    if (distance(uv * vec2(viewport.size.x / viewport.size.y, 1.0), vec2(0.25, 0.2)) < 0.1) c = vec3(1.0, 0.85, 0.3);  // sun
    if (uv.y > 0.6) {  // floor
        const ivec2 cell = ivec2(floor(vec2(uv.x * 12.0, (uv.y - 0.6) * 20.0)));
        c = ((cell.x + cell.y) & 1) == 0 ? vec3(0.25, 0.25, 0.28) : vec3(0.8, 0.8, 0.75);
    }
    out_color = vec4(c, 1.0);
}
