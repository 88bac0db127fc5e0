#version 450
// A headless "renderer"'s scene: vertices 0-2 are one triangle covering the screen (the
// fragment shader paints sky, sun and a checkered floor on it), 3-8 two coloured triangles.
layout(location = 0) out vec3 color;
layout(location = 1) flat out int background;

const vec2 positions[9] = vec2[](
    vec2(-1.0, -1.0), vec2(3.0, -1.0), vec2(-1.0, 3.0),
    vec2(-0.8, 0.7), vec2(-0.2, -0.5), vec2(0.3, 0.75),
    vec2(0.1, 0.8), vec2(0.85, 0.1), vec2(0.9, 0.85));
const vec3 colors[9] = vec3[](
    vec3(0.0), vec3(0.0), vec3(0.0),
    vec3(0.95, 0.2, 0.15), vec3(0.95, 0.8, 0.1), vec3(0.9, 0.3, 0.6),
    vec3(0.1, 0.4, 0.95), vec3(0.2, 0.9, 0.5), vec3(0.15, 0.75, 0.9));

void main() {
    gl_Position = vec4(positions[gl_VertexIndex], 0.0, 1.0);
    color = colors[gl_VertexIndex];
    background = gl_VertexIndex < 3 ? 1 : 0;
}
