#version 330 core
// Composites the premultiplied splat image over the background: rgb + (1 - alpha) * background,
// as the CPU renderer does with its final transmittance.
in vec2 v_uv;
uniform sampler2D u_image;
uniform vec3 u_background;
out vec4 frag_colour;

void main() {
    vec4 splats = texture(u_image, v_uv);
    frag_colour = vec4(splats.rgb + (1.0 - splats.a) * u_background, 1.0);
}
