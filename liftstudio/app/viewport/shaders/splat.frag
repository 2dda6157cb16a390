#version 330 core
// The per-pixel rule of render/rules.py: alpha = min(alpha_max, opacity * exp(-q / 2)) inside
// q <= qmax, skipped below min_alpha; output premultiplied for back-to-front blending.

in vec2 v_offset;
flat in vec3 v_conic;
flat in float v_opacity;
flat in float v_qmax;
flat in vec3 v_colour;

uniform float u_alpha_max;
uniform float u_min_alpha;
uniform int u_point_mode;

out vec4 frag_colour;

void main() {
    if (u_point_mode != 0) {
        if (v_opacity < 0.1) discard;
        frag_colour = vec4(v_colour, 1.0);
        return;
    }
    vec2 d = v_offset;
    float q = v_conic.x * d.x * d.x + 2.0 * v_conic.y * d.x * d.y + v_conic.z * d.y * d.y;
    if (q > v_qmax) discard;
    float alpha = min(u_alpha_max, v_opacity * exp(-0.5 * q));
    if (alpha < u_min_alpha) discard;
    frag_colour = vec4(v_colour * alpha, alpha);
}
